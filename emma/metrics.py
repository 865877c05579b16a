import os

from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
                               multiprocess)
from prometheus_client.core import GaugeMetricFamily

from emma.maintenance.metrics import maintenance_collector
from memory.metrics import memory_items_collector

TASKS_SUBMITTED = Counter("emma_tasks_submitted_total", "Agent tasks submitted, by type and decision.",
                          ["task_type", "decision"])
TASK_DURATION = Histogram("emma_task_duration_seconds", "Agent task handler run time.", ["task_type"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
WORKFLOWS = Counter("emma_workflows_auto_vs_hitl_total",
                    "Tasks that went to run: straight away (auto) or after a human approved (hitl).", ["path"])
PUBLISH_FAILURES = Counter("emma_task_publish_failures_total",
                           "Task messages that could not be published (the sweep publishes them later).")


class DatabaseGaugesCollector:
    """Gauges read from PostgreSQL at scrape time: right whichever process serves /metrics."""

    def describe(self):
        # Named here so registering the collector never queries the database.
        yield GaugeMetricFamily("emma_tasks_in_status", "Agent tasks by current status.", labels=["status"])
        yield GaugeMetricFamily("emma_escalations_open", "Escalations waiting for a decision.")

    def collect(self):
        from emma.models import AgentTask
        from governance.models import Escalation

        in_status = GaugeMetricFamily("emma_tasks_in_status", "Agent tasks by current status.", labels=["status"])
        counts = dict(AgentTask.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
        for status in AgentTask.Status.values:
            in_status.add_metric([status], counts.get(status, 0))
        yield in_status
        yield GaugeMetricFamily("emma_escalations_open", "Escalations waiting for a decision.",
                                value=Escalation.objects.filter(status=Escalation.Status.OPEN).count())


# Gauges read from PostgreSQL when scraped: in multiprocess mode added to each scrape's registry.
_SCRAPE_TIME_COLLECTORS = [DatabaseGaugesCollector(), memory_items_collector, maintenance_collector]
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    for _collector in _SCRAPE_TIME_COLLECTORS:
        REGISTRY.register(_collector)


def register_scrape_time_collector(collector) -> None:
    """A collector of an app above emma (integrations), registered in its AppConfig.ready."""
    if collector in _SCRAPE_TIME_COLLECTORS:
        return
    _SCRAPE_TIME_COLLECTORS.append(collector)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        REGISTRY.register(collector)


def metrics_view(request):
    """Prometheus text: this process's metrics (or, in multiprocess mode, every gunicorn and Celery
    process's, summed) plus the database gauges."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _SCRAPE_TIME_COLLECTORS:
            registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
