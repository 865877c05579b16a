from django.utils import timezone
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


class ApprovalSlaCollector:
    """Approval SLAs of the last 7 days (stats.METRICS_WINDOW), per tenant, read at scrape time (governance.stats):
    time to decision p50/p95 per tier group, the share of ended chains no one decided, the time waited. Three
    queries for every tenant together."""

    _TIME = ("emma_approval_time_to_decision_seconds",
             "Time from a tier's escalation opening to a person's decision, last 7 days.")
    _EXPIRED = ("emma_approval_expired_ratio", "Share of escalation chains ended in the last 7 days that no one "
                                                "decided (ended by the last deadline).")
    _WAITING = ("emma_approval_waiting_seconds", "Time the escalation chains ended in the last 7 days kept tasks "
                                                 "(kind=task) and agent runs (kind=agent_run) waiting.")

    def describe(self):
        yield GaugeMetricFamily(*self._TIME, labels=["tenant", "group", "quantile"])
        yield GaugeMetricFamily(*self._EXPIRED, labels=["tenant"])
        yield GaugeMetricFamily(*self._WAITING, labels=["tenant", "kind"])

    def collect(self):
        from governance import stats

        time = GaugeMetricFamily(*self._TIME, labels=["tenant", "group", "quantile"])
        expired = GaugeMetricFamily(*self._EXPIRED, labels=["tenant"])
        waiting = GaugeMetricFamily(*self._WAITING, labels=["tenant", "kind"])
        end = timezone.now()
        span = stats.Window(start=end - stats.METRICS_WINDOW, end=end)
        for row in stats.times_by_tenant_and_group(span):
            for quantile in ("0.5", "0.95"):
                value = row["p50_seconds" if quantile == "0.5" else "p95_seconds"]
                time.add_metric([row["tenant"], row["group"], quantile], value)
        for row in stats.chains_by_tenant(span):
            if row["ended"]:
                expired.add_metric([row["tenant"]], row["expired"] / row["ended"])
            agent_run = row["agent_waiting_seconds"] or 0
            waiting.add_metric([row["tenant"], "task"], (row["waiting_seconds"] or 0) - agent_run)
            waiting.add_metric([row["tenant"], "agent_run"], agent_run)
        yield time
        yield expired
        yield waiting


approval_sla_collector = ApprovalSlaCollector()
