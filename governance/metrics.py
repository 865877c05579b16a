from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

APPROVAL_DECISIONS = Counter("emma_approval_decisions_total",
                             "Escalation outcomes: approved, rejected (by a person), expired (by timeout).",
                             ["outcome"])


class OpenEscalationsCollector:
    """emma_escalations_open, read from PostgreSQL at scrape time."""

    _GAUGE = ("emma_escalations_open", "Escalations waiting for a decision.")

    def describe(self):
        yield GaugeMetricFamily(*self._GAUGE)

    def collect(self):
        from governance.models import Escalation

        yield GaugeMetricFamily(*self._GAUGE, value=Escalation.objects.filter(status=Escalation.Status.OPEN).count())


open_escalations_collector = OpenEscalationsCollector()
