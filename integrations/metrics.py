"""Integration metrics: counters per process (summed across processes in multiprocess mode) and a
scrape-time collector for the state that lives outside any one process (breakers, the outbox)."""

from django.db.models import Count
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

WEBHOOKS_REFUSED = Counter("emma_webhooks_refused_total",
                           "Inbound webhook requests refused before storage, by provider and reason.",
                           ["provider", "reason"])
WEBHOOKS_RECEIVED = Counter("emma_webhooks_received_total",
                            "Verified inbound webhook requests: accepted (stored) or duplicate (already stored).",
                            ["provider", "outcome"])
DELIVERIES_PROCESSED = Counter("emma_webhook_deliveries_processed_total",
                               "Stored webhook deliveries processed, by provider and resulting status.",
                               ["provider", "status"])
OUTBOUND_MESSAGES = Counter("emma_outbound_messages_total",
                            "Outbound message send outcomes: sent, failed, retried (provider error), "
                            "deferred (breaker, rate limit, daily cap).", ["channel", "outcome"])


class IntegrationsCollector:
    """Breaker states from Redis and outbox depth from PostgreSQL, read when scraped."""

    def describe(self):
        yield GaugeMetricFamily("emma_integration_breaker_state", "1 for each provider's current breaker state.",
                                labels=["provider", "state"])
        yield GaugeMetricFamily("emma_outbound_messages_in_status", "Outbound messages by channel and status.",
                                labels=["channel", "status"])

    def collect(self):
        from integrations import breaker
        from integrations.models import Channel, OutboundMessage

        gauge = GaugeMetricFamily("emma_integration_breaker_state", "1 for each provider's current breaker state.",
                                  labels=["provider", "state"])
        try:
            current = breaker.states()
        except Exception:  # Redis down: /health says so; the scrape still answers
            current = {}
        for provider, entry in current.items():
            for state in (breaker.CLOSED, breaker.OPEN, breaker.HALF_OPEN):
                gauge.add_metric([provider, state], 1 if entry["state"] == state else 0)
        yield gauge
        outbox = GaugeMetricFamily("emma_outbound_messages_in_status", "Outbound messages by channel and status.",
                                   labels=["channel", "status"])
        counts = {(row["channel"], row["status"]): row["n"] for row in
                  OutboundMessage.objects.values("channel", "status").annotate(n=Count("pk"))}
        for channel in Channel.values:
            for status in OutboundMessage.Status.values:
                outbox.add_metric([channel, status], counts.get((channel, status), 0))
        yield outbox


integrations_collector = IntegrationsCollector()
