"""Memory metrics: store and query durations by operation, and live semantic items per tenant."""

import time
from contextlib import contextmanager

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

STORE_DURATION = Histogram("emma_memory_store_duration_seconds",
                           "Memory writes, by operation (embed, store, bulk_chunk, delete, working_append, ...).",
                           ["operation"], buckets=_BUCKETS)
QUERY_DURATION = Histogram("emma_memory_query_duration_seconds",
                           "Memory reads, by operation (search, vector_search, get, episodes, working_get, ...).",
                           ["operation"], buckets=_BUCKETS)


@contextmanager
def timed(histogram: Histogram, operation: str):
    """Observe the block's wall time, whether it returns or raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(operation=operation).observe(time.perf_counter() - started)


class MemoryItemsCollector:
    """emma_memory_items{tenant}: live (unexpired) semantic items, read from PostgreSQL at scrape time."""

    def describe(self):
        # Named here so registering the collector never queries the database.
        yield GaugeMetricFamily("emma_memory_items", "Semantic memory items not expired, per tenant.",
                                labels=["tenant"])

    def collect(self):
        from django.db.models import Count

        from memory.models import MemoryItem

        gauge = GaugeMetricFamily("emma_memory_items", "Semantic memory items not expired, per tenant.",
                                  labels=["tenant"])
        counts = MemoryItem.objects.live().values_list("tenant__slug").annotate(n=Count("pk")).order_by()
        for slug, count in counts.values_list("tenant__slug", "n"):
            gauge.add_metric([slug], count)
        yield gauge


# Registered with core.metrics in MemoryConfig.ready.
memory_items_collector = MemoryItemsCollector()
