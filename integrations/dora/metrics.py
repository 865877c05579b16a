"""The DORA figures of the last 30 days per tenant, service and environment, read when /metrics is scraped.

The cost is bounded by the data, not by the number of services: one query per metric for every tenant at
once (plus the few that link incidents to deployments and deployments to their changes), grouped in Python.
A group with no data has no sample (no deployment: no change failure rate, rather than a 0).

Service names come from payloads, so the series are capped: the DORA_METRICS_MAX_SERIES groups with the most
deployments are exported, the rest counted in emma_dora_series_dropped. The figures are computed at most once
every CACHE_SECONDS per process: a scrape interval shorter than that reads the last ones."""

from collections import defaultdict
from datetime import timedelta
from statistics import median

import time

from django.conf import settings
from django.db.models import F
from prometheus_client.core import GaugeMetricFamily

from integrations import signals as s
from integrations.dora import selectors
from integrations.dora.models import Incident

WINDOW = timedelta(days=30)
CACHE_SECONDS = 60
LABELS = ["tenant", "service", "environment"]
GAUGES = {
    "deployments": ("emma_dora_deployments", "Successful deployments in the last 30 days."),
    "cfr": ("emma_dora_change_failure_rate", "Share of the last 30 days' successful deployments linked to an "
                                              "incident (0 to 1)."),
    "lead": ("emma_dora_lead_time_median_seconds", "Median lead time for changes deployed in the last 30 days."),
    "restore": ("emma_dora_time_to_restore_median_seconds", "Median time to restore of the incidents resolved "
                                                             "in the last 30 days."),
}


def _gauge(name: str) -> GaugeMetricFamily:
    metric, documentation = GAUGES[name]
    return GaugeMetricFamily(metric, documentation, labels=LABELS)


DROPPED = ("emma_dora_series_dropped", "DORA groups (tenant, service, environment) not exported: over "
                                      "DORA_METRICS_MAX_SERIES.")


class DoraCollector:
    def __init__(self):
        self._cached: tuple[float, list] | None = None

    def describe(self):
        for name in GAUGES:
            yield _gauge(name)
        yield GaugeMetricFamily(*DROPPED)

    def collect(self):
        if self._cached is None or time.monotonic() - self._cached[0] > CACHE_SECONDS:
            self._cached = (time.monotonic(), list(self._compute()))
        yield from self._cached[1]

    def _compute(self):
        end = selectors.now()
        since = end - WINDOW
        deployments = list(selectors.dated_deployments().filter(status=s.SUCCESS, deployed_at__gte=since,
                                                           deployed_at__lt=end)
                           .annotate(tenant_slug=F("tenant__slug")))
        slugs = {d.tenant_id: d.tenant_slug for d in deployments}
        group = {d.pk: (d.tenant_slug, d.service, d.environment) for d in deployments}
        counts, failures = defaultdict(int), defaultdict(int)
        failed = {d.pk for d in selectors.incident_links(Incident.objects.filter(
            tenant_id__in=set(slugs), opened_at__gte=since)).values() if d is not None} if slugs else set()
        for d in deployments:
            counts[group[d.pk]] += 1
            failures[group[d.pk]] += d.pk in failed
        leads = defaultdict(list)
        for lead in selectors.lead_times(deployments):
            leads[group[lead.deployment.pk]].append(lead.seconds)
        restores = defaultdict(list)
        resolved = Incident.objects.filter(resolved_at__gte=since, resolved_at__lt=end).annotate(
            tenant_slug=F("tenant__slug"))
        for incident, seconds in selectors.restore_seconds(resolved):
            restores[(incident.tenant_slug, incident.service, incident.environment)].append(seconds)

        groups = set(counts) | set(restores)
        kept = set(sorted(groups, key=lambda labels: (-counts.get(labels, 0), labels))[
            :settings.DORA_METRICS_MAX_SERIES])
        gauges = {name: _gauge(name) for name in GAUGES}
        for labels, count in sorted(counts.items()):
            if labels in kept:
                gauges["deployments"].add_metric(list(labels), count)
                gauges["cfr"].add_metric(list(labels), failures[labels] / count)
        for labels, values in sorted(leads.items()):
            if labels in kept:
                gauges["lead"].add_metric(list(labels), float(median(values)))
        for labels, values in sorted(restores.items()):
            if labels in kept:
                gauges["restore"].add_metric(list(labels), float(median(values)))
        dropped = GaugeMetricFamily(*DROPPED)
        dropped.add_metric([], len(groups) - len(kept))
        yield from gauges.values()
        yield dropped


dora_collector = DoraCollector()
