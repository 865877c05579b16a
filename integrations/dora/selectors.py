"""The four DORA metrics of a tenant's engineering events (integrations.dora.models), read for a window.

Definitions, as the reference implementations compute them:

- Deployment frequency: successful deployments to the environment. Its bucket is Google's Four Keys'
  (https://github.com/GoogleCloudPlatform/fourkeys/blob/main/METRICS.md, "Calculating the bucket"): the
  window's days from the first deployment on record, grouped by week; *daily* when the median number of days
  per week with a deployment is ≥ 3, *weekly* when the median week has one (week_deployed ≥ 1), *monthly* when
  the median over those weeks of their month's count of weeks with a deployment is ≥ 1, else *yearly*.
- Lead time for changes: for each change a deployment shipped, deployment time (finished, else started) −
  commit time (committed, else authored); non-positive values ignored (Four Keys: "Ignore automated
  changes"); the median. A change counts once per service, at the first successful deployment of that service
  that shipped it (as Apache DevLake's change lead time takes a commit's first deployment,
  backend/plugins/dora/tasks/change_lead_time_calculator.go), when that deployment falls in the window.
- A deployment's changes: its DeploymentChange shas; when it names only its head sha and that sha arrived in
  a push (Change.push), every change of that push (Four Keys' queries/deployments.sql joins a deployment's
  commit to its push event's `commits`). Changes are matched by (tenant, sha).
- Change failure rate: successful deployments in the window linked to at least one incident ÷ all of them
  (Apache DevLake, grafana/dashboards/DORA.json `_change_failure_rate`).
- Incident → deployment, as DevLake's ConnectIncidentToDeployment
  (backend/plugins/dora/tasks/incident_deploy_connector.go), with the incident's own word first: the
  deployment it names (deployment_key); else the first successful deployment (same environment, the
  incident's service preferred) that shipped its root_cause_sha; else the latest successful deployment of
  the incident's service and environment that finished before the incident opened.
- Time to restore service: median (resolved − opened) of the incidents resolved in the window (Four Keys'
  incidents table; DevLake's 2021 `_median_mttr` filters on the resolution date); negative spans ignored.

Medians are interpolated (Four Keys' PERCENTILE_CONT); days and weeks are UTC, weeks start on Monday (ISO)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import median

from django.db import connection
from django.db.models import Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations import signals as s
from integrations.dora import levels
from integrations.dora.models import Change, Deployment, DeploymentChange, Incident

DEFAULT_WEEKS = 12
# The longest window read: a longer one starts this long before its end (bounds the days and weeks walked).
MAX_WINDOW = timedelta(days=731)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> datetime:
    return timezone.now()


@dataclass(frozen=True)
class Scope:
    """Whose events and which: always one tenant; a service (empty: all), an environment, [start, end)."""

    tenant_id: int
    start: datetime
    end: datetime
    service: str = ""
    environment: str = s.PRODUCTION


def scope(*, tenant_id: int, service: str = "", environment: str = "", start=None, end=None) -> Scope:
    """A scope with the defaults filled in: production, the last twelve weeks to now; a window longer than
    MAX_WINDOW (or before 1970) is cut to it."""
    end = max(end or now(), EARLIEST + timedelta(days=1))
    start = max(start or end - timedelta(weeks=DEFAULT_WEEKS), end - MAX_WINDOW, EARLIEST)
    return Scope(tenant_id=tenant_id, start=start, end=end,
                 service=service or "", environment=s.environment_name(environment) or s.PRODUCTION)


# --- the rows ---------------------------------------------------------------------------------------


def dated_deployments():
    return Deployment.objects.annotate(deployed_at=Coalesce("finished_at", "started_at"))


def deployments_in(sc: Scope, *, status: str | None = s.SUCCESS):
    """The scope's deployments that finished (else started) in its window; successful ones by default."""
    rows = dated_deployments().filter(tenant_id=sc.tenant_id, environment=sc.environment, deployed_at__gte=sc.start,
                                 deployed_at__lt=sc.end)
    if status:
        rows = rows.filter(status=status)
    return rows.filter(service=sc.service) if sc.service else rows


def changes_in(sc: Scope):
    """The changes committed (else authored) in the scope's window; a service filter has no say (a change
    names no service until a deployment ships it)."""
    return Change.objects.annotate(at=Coalesce("committed_at", "authored_at")).filter(
        tenant_id=sc.tenant_id, at__gte=sc.start, at__lt=sc.end)


def incidents_in(sc: Scope):
    """The scope's incidents opened in its window."""
    rows = Incident.objects.filter(tenant_id=sc.tenant_id, environment=sc.environment, opened_at__gte=sc.start,
                                   opened_at__lt=sc.end)
    return rows.filter(service=sc.service) if sc.service else rows


def shipped(deployments) -> dict[int, set[str]]:
    """Each deployment's changes, as shas (see the module's docstring): three queries for any number of
    deployments, of any tenants."""
    deployments = list(deployments)
    named: dict[int, set[str]] = {d.pk: set() for d in deployments}
    for deployment_id, sha in DeploymentChange.objects.filter(deployment_id__in=named).values_list(
            "deployment_id", "sha"):
        named[deployment_id].add(sha)
    heads = {(d.tenant_id, d.sha) for d in deployments if d.sha and named[d.pk] <= {d.sha}}
    push_of = {(t, sha): push for t, sha, push in Change.objects.filter(
        tenant_id__in={t for t, _ in heads}, sha__in={sha for _, sha in heads}).exclude(push="")
        .values_list("tenant_id", "sha", "push") if (t, sha) in heads}
    members: dict[tuple[int, str], set[str]] = defaultdict(set)
    for t, push, sha in Change.objects.filter(tenant_id__in={t for t, _ in push_of},
                                              push__in=set(push_of.values())).values_list("tenant_id", "push", "sha"):
        members[(t, push)].add(sha)
    for d in deployments:
        push = push_of.get((d.tenant_id, d.sha))
        if push and named[d.pk] <= {d.sha}:
            named[d.pk] |= members[(d.tenant_id, push)]
        elif d.sha:
            named[d.pk].add(d.sha)
    return named


def _push_mates(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (tenant, sha) pairs with every change that arrived in the same push as one of them."""
    found = set(pairs)
    pushes = set(Change.objects.filter(tenant_id__in={t for t, _ in pairs}, sha__in={sha for _, sha in pairs})
                 .exclude(push="").values_list("tenant_id", "sha", "push"))
    pushes = {(t, push) for t, sha, push in pushes if (t, sha) in pairs}
    if pushes:
        found |= {(t, sha) for t, push, sha in Change.objects.filter(
            tenant_id__in={t for t, _ in pushes}, push__in={p for _, p in pushes}).values_list("tenant_id", "push", "sha")
            if (t, push) in pushes}
    return found


def _shipping(pairs: set[tuple[int, str]], **filters) -> list[tuple[Deployment, set[str]]]:
    """Successful deployments that shipped any of the (tenant, sha) pairs, with what each shipped."""
    if not pairs:
        return []
    wanted = _push_mates(pairs)
    named = {sha for _, sha in wanted}
    candidates = [d for d in dated_deployments().filter(
        Q(changes__sha__in=named) | Q(sha__in=named), tenant_id__in={t for t, _ in wanted}, status=s.SUCCESS,
        **filters).distinct()]
    shas = shipped(candidates)
    return [(d, shas[d.pk]) for d in candidates if any((d.tenant_id, sha) in pairs for sha in shas[d.pk])]


@dataclass(frozen=True)
class LeadTime:
    deployment: Deployment
    sha: str
    seconds: float


# Lead times in one statement (the rule of lead_times), so a year of thousands of deployments is not walked in
# Python nor sent back as thousands of parameters: the candidates are one array.
LEAD_TIMES_SQL = """
WITH cand AS (
    SELECT d.tenant_id, d.service, d.environment, COALESCE(d.finished_at, d.started_at) AS at
    FROM integrations_deployment d WHERE d.id = ANY(%(ids)s)
), groups AS (
    SELECT tenant_id, service, environment, MAX(at) AS last FROM cand GROUP BY 1, 2, 3
), dep AS (
    SELECT d.id, d.tenant_id, d.service, d.environment, COALESCE(d.finished_at, d.started_at) AS at, d.sha
    FROM integrations_deployment d JOIN groups g
      ON d.tenant_id = g.tenant_id AND d.service = g.service AND d.environment = g.environment
    WHERE d.status = %(success)s AND COALESCE(d.finished_at, d.started_at) <= g.last
), named AS (
    SELECT dc.deployment_id AS id, dc.sha FROM integrations_deploymentchange dc JOIN dep ON dep.id = dc.deployment_id
), head_only AS (
    SELECT dep.id, dep.tenant_id, dep.sha FROM dep
    WHERE dep.sha <> '' AND NOT EXISTS (SELECT 1 FROM integrations_deploymentchange n
                                        WHERE n.deployment_id = dep.id AND n.sha <> dep.sha)
), mates AS (
    SELECT h.id, m.sha FROM head_only h
    JOIN integrations_change c ON c.tenant_id = h.tenant_id AND c.sha = h.sha AND c.push <> ''
    JOIN integrations_change m ON m.tenant_id = h.tenant_id AND m.push = c.push
), shipped AS (
    SELECT id, sha FROM named UNION SELECT id, sha FROM dep WHERE sha <> '' UNION SELECT id, sha FROM mates
), firsts AS (
    SELECT DISTINCT ON (dep.tenant_id, dep.service, dep.environment, shipped.sha)
           dep.id, dep.tenant_id, dep.at, shipped.sha
    FROM shipped JOIN dep ON dep.id = shipped.id
    ORDER BY dep.tenant_id, dep.service, dep.environment, shipped.sha, dep.at, dep.id
)
SELECT firsts.id, firsts.sha, EXTRACT(EPOCH FROM firsts.at - committed.at)
FROM firsts JOIN LATERAL (
    SELECT MIN(COALESCE(c.committed_at, c.authored_at)) AS at FROM integrations_change c
    WHERE c.tenant_id = firsts.tenant_id AND c.sha = firsts.sha
) committed ON TRUE
WHERE firsts.id = ANY(%(ids)s) AND firsts.at > committed.at
ORDER BY firsts.at, firsts.id, firsts.sha
"""


def lead_times(deployments) -> list[LeadTime]:
    """The positive lead times of the changes these successful deployments shipped first: each change counts
    once per tenant, service and environment, at the first successful deployment that shipped it (one before
    these, or between them, takes it), by the time from its commit (its earliest, when it is in several
    repositories) to that deployment's finish (else start)."""
    by_id = {d.pk: d for d in deployments}
    if not by_id:
        return []
    with connection.cursor() as cursor:
        cursor.execute(LEAD_TIMES_SQL, {"ids": list(by_id), "success": s.SUCCESS})
        rows = cursor.fetchall()
    return [LeadTime(by_id[deployment_id], sha, float(seconds)) for deployment_id, sha, seconds in rows]


def incident_links(incidents) -> dict[int, Deployment | None]:
    """The deployment each incident is linked to (see the module's docstring), or None: four queries for
    any number of incidents, of any tenants."""
    fallback = dated_deployments().filter(
        tenant_id=OuterRef("tenant_id"), service=OuterRef("service"), environment=OuterRef("environment"),
        status=s.SUCCESS, deployed_at__lt=OuterRef("opened_at")).order_by("-deployed_at", "-pk").values("pk")[:1]
    ids = incidents.values("pk") if isinstance(incidents, QuerySet) else [i.pk for i in incidents]
    incidents = list(Incident.objects.filter(pk__in=ids).annotate(fallback_id=Subquery(fallback)))
    chosen: dict[int, int | None] = {i.pk: i.fallback_id for i in incidents}
    by_root: dict[tuple[int, str], list[tuple[Deployment, set[str]]]] = defaultdict(list)
    rooted = {(i.tenant_id, i.root_cause_sha) for i in incidents if i.root_cause_sha}
    for d, shas in _shipping(rooted):
        for sha in shas:
            by_root[(d.tenant_id, sha)].append((d, shas))
    for i in incidents:
        candidates = sorted((d for d, _ in by_root.get((i.tenant_id, i.root_cause_sha), [])
                             if d.environment == i.environment),
                            key=lambda d: (d.service != i.service, d.deployed_at or datetime.max.replace(tzinfo=UTC)))
        if i.root_cause_sha and candidates:
            chosen[i.pk] = candidates[0].pk
    named = {(i.tenant_id, i.deployment_key) for i in incidents if i.deployment_key}
    if named:
        keyed: dict[tuple[int, str], list[Deployment]] = defaultdict(list)
        for d in Deployment.objects.filter(tenant_id__in={t for t, _ in named}, key__in={k for _, k in named}):
            keyed[(d.tenant_id, d.key)].append(d)
        for i in incidents:
            matches = sorted(keyed.get((i.tenant_id, i.deployment_key), []), key=lambda d: d.provider != i.provider)
            if i.deployment_key and matches:
                chosen[i.pk] = matches[0].pk
    rows = {d.pk: d for d in dated_deployments().filter(pk__in={pk for pk in chosen.values() if pk})}
    return {pk: rows.get(deployment_id) for pk, deployment_id in chosen.items()}


def failed_deployment_ids(*, tenant_ids, environment: str, since: datetime) -> set[int]:
    """The deployments linked to an incident that could name one of those finished since `since`: every
    incident of the environment opened since then (or with no opening time)."""
    incidents = Incident.objects.filter(tenant_id__in=tenant_ids, environment=environment).filter(
        Q(opened_at__gte=since) | Q(opened_at__isnull=True))
    return {d.pk for d in incident_links(incidents).values() if d is not None}


def restore_seconds(incidents) -> list[tuple[Incident, float]]:
    """Resolved incidents with their time to restore (resolved − opened), negative spans left out."""
    return [(i, (i.resolved_at - i.opened_at).total_seconds()) for i in incidents
            if i.resolved_at and i.opened_at and i.resolved_at >= i.opened_at]


# --- the figures ------------------------------------------------------------------------------------


def _median(values) -> float | None:
    values = list(values)
    return float(median(values)) if values else None


def week_of(moment) -> date:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def _days(start: date, end: date):
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def deployment_days(sc: Scope) -> tuple[set[date], date | None]:
    """The UTC days of the window with a successful deployment, and the first day the window counts: its start,
    or the day of the scope's first deployment on record when later (Four Keys: "FROM the start of the data")."""
    days = {d.astimezone(UTC).date() for d in deployments_in(sc).values_list("deployed_at", flat=True)}
    first = Deployment.objects.filter(tenant_id=sc.tenant_id, environment=sc.environment, status=s.SUCCESS,
                                      **({"service": sc.service} if sc.service else {})).aggregate(
        first=Min(Coalesce("finished_at", "started_at")))["first"]
    if first is None or first >= sc.end:
        return days, None
    return days, max(sc.start, first).astimezone(UTC).date()


def frequency(days: set[date], start: date | None, end: date) -> dict:
    """Four Keys' bucket and the medians DevLake's levels read, from the days with a deployment among the
    days from `start` to `end` (each grouped by its week, month and half-year, partial ones included)."""
    if start is None:
        return {"bucket": None, "days_per_week": None, "days_per_month": None, "days_per_half_year": None}
    weeks: dict[date, set[date]] = defaultdict(set)
    months: dict[tuple, set[date]] = defaultdict(set)
    halves: dict[tuple, set[date]] = defaultdict(set)
    for day in _days(start, end):
        deployed = {day} if day in days else set()
        weeks[week_of(day)] |= deployed
        months[(day.year, day.month)] |= deployed
        halves[(day.year, (day.month - 1) // 6)] |= deployed
    per_week = [len(v) for v in weeks.values()]
    weekly_flags = {week: 1 if v else 0 for week, v in weeks.items()}
    weeks_deployed_in_month: dict[tuple, int] = defaultdict(int)
    for week, flag in weekly_flags.items():
        weeks_deployed_in_month[(week.year, week.month)] += flag
    monthly = [weeks_deployed_in_month[(week.year, week.month)] for week in weekly_flags]
    if median(per_week) >= 3:
        bucket = "daily"
    elif median(weekly_flags.values()) >= 1:
        bucket = "weekly"
    elif median(monthly) >= 1:
        bucket = "monthly"
    else:
        bucket = "yearly"
    return {"bucket": bucket, "days_per_week": float(median(per_week)),
            "days_per_month": float(median(len(v) for v in months.values())),
            "days_per_half_year": float(median(len(v) for v in halves.values()))}


def _rate(failed: int, total: int) -> float | None:
    return failed / total if total else None


def summary(sc: Scope, *, report_year: int | None = None) -> dict:
    """The scope's four figures with their levels, the counts behind them, and a series per ISO week."""
    year = levels.report_year(report_year)
    deployments = list(deployments_in(sc).only("pk", "tenant_id", "service", "environment"))  # what the figures read
    failed = failed_deployment_ids(tenant_ids=[sc.tenant_id], environment=sc.environment, since=sc.start)
    leads = lead_times(deployments)
    resolved = restore_seconds(Incident.objects.filter(
        tenant_id=sc.tenant_id, environment=sc.environment, resolved_at__gte=sc.start, resolved_at__lt=sc.end,
        **({"service": sc.service} if sc.service else {})))
    days, first = deployment_days(sc)
    last = (min(sc.end, now()) - timedelta(microseconds=1)).astimezone(UTC).date()  # days to come count no zero
    freq = frequency(days, first if first and first <= last else None, last)
    failed_count = sum(1 for d in deployments if d.pk in failed)
    lead = _median(lt.seconds for lt in leads)
    restore = _median(seconds for _, seconds in resolved)
    cfr = _rate(failed_count, len(deployments))
    weeks_total = max((sc.end - sc.start).total_seconds() / (7 * 86400), 1 / 7)
    figures = {
        "deployment_frequency": {
            "bucket": freq["bucket"], "per_week": round(len(deployments) / weeks_total, 2),
            "median_days_per_week": freq["days_per_week"], "median_days_per_month": freq["days_per_month"],
            "level": levels.frequency_level(freq, year)},
        "lead_time": {"median_seconds": lead, "text": levels.duration_text(lead),
                      "level": levels.lead_time_level(lead, year)},
        "change_failure_rate": {"rate": cfr, "text": "" if cfr is None else f"{cfr:.0%}",
                                "level": levels.change_failure_level(cfr, year)},
        "time_to_restore": {"median_seconds": restore, "text": levels.duration_text(restore),
                            "level": levels.restore_level(restore, year)},
    }
    first_week = week_of(sc.start)
    weeks = (week_of(sc.end - timedelta(microseconds=1)) - first_week).days // 7 + 1
    series = {first_week + timedelta(weeks=n): {"deployments": 0, "failed": 0, "leads": [], "restores": []}
              for n in range(weeks)}
    for d in deployments:
        row = series.setdefault(week_of(d.deployed_at), {"deployments": 0, "failed": 0, "leads": [], "restores": []})
        row["deployments"] += 1
        row["failed"] += d.pk in failed
    for lt in leads:
        series[week_of(lt.deployment.deployed_at)]["leads"].append(lt.seconds)
    for incident, seconds in resolved:
        series.setdefault(week_of(incident.resolved_at), {"deployments": 0, "failed": 0, "leads": [],
                                                          "restores": []})["restores"].append(seconds)
    return {
        "service": sc.service, "environment": sc.environment, "start": sc.start, "end": sc.end,
        "report_year": year, **figures,
        "overall": {"level": levels.overall([f["level"] for f in figures.values()])},
        "counts": {"deployments": len(deployments), "failed": failed_count, "changes": len(leads),
                   "incidents": incidents_in(sc).count(), "resolved": len(resolved)},
        "weekly": [{"week": f"{week.isocalendar().year}-W{week.isocalendar().week:02d}", "start": week,
                    "deployments": row["deployments"], "failed": row["failed"],
                    "median_lead_time_seconds": _median(row["leads"]),
                    "change_failure_rate": _rate(row["failed"], row["deployments"]),
                    "median_restore_seconds": _median(row["restores"])}
                   for week, row in sorted(series.items())],
    }


# --- the lists behind the figures -------------------------------------------------------------------


def deployments_listed(sc: Scope, *, status: str = ""):
    """The scope's deployments in its window, any status unless one is named, newest first."""
    return deployments_in(sc, status=status or None).order_by("-deployed_at", "-pk")


def deployments_annotated(page) -> list[dict]:
    """A page of deployments with what the figures read of each: linked to an incident, its changes' count
    and median lead time (only the changes it shipped first)."""
    page = list(page)
    if not page:
        return []
    since = min((d.deployed_at for d in page if d.deployed_at), default=None) or timezone.now()
    failed = set().union(*(failed_deployment_ids(tenant_ids={d.tenant_id for d in page}, environment=environment,
                                                 since=since) for environment in {d.environment for d in page}))
    leads: dict[int, list[float]] = defaultdict(list)
    for lt in lead_times([d for d in page if d.status == s.SUCCESS and d.deployed_at]):
        leads[lt.deployment.pk].append(lt.seconds)
    shas = shipped(page)
    return [{"deployment": d, "incident_linked": d.pk in failed, "changes": len(shas[d.pk]),
             "median_lead_time_seconds": _median(leads[d.pk])} for d in page]


def changes_listed(sc: Scope, *, repository: str = ""):
    """The changes committed in the scope's window, newest first; of one repository when named."""
    rows = changes_in(sc)
    return (rows.filter(repository=repository) if repository else rows).order_by("-at", "-pk")


def incidents_listed(sc: Scope, *, status: str = ""):
    """The scope's incidents opened in its window, newest first; of one status when named."""
    rows = incidents_in(sc)
    return (rows.filter(status=status) if status else rows).order_by("-opened_at", "-pk")
