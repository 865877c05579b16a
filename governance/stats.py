"""Approval SLAs: how long people keep decisions waiting, read from the escalations themselves.

- Time to decision: from a tier's escalation opening to a person's decision on it (approved, rejected,
  replied), p50 and p95, for the tenant, per tier group and per approver. Tiers that timed out or moved on
  are not decisions and are left out of these figures.
- Expired: of the chains that ended in the window (a chain is a task's or a tool call's tiers, its end the
  last tier's close), the share no person decided: ended by the last deadline (rejected as expired, or
  approved by the policy's default). Withdrawn chains (the task was cancelled) count in neither part.
- Waiting: the time the chains that ended in the window kept their task or agent run waiting, from the first
  tier's opening to the end; agent runs' (tool calls') apart, since a paused run holds no worker but holds its
  requester.

Each figure is one SQL query over the window's rows (percentile_cont in PostgreSQL), so the cost grows with
the escalations in the window, not with any Python loop."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Aggregate, Case, Count, F, FloatField, Func, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from governance.models import Escalation

Status = Escalation.Status
DECIDED_BY_A_PERSON = (Status.APPROVED, Status.REJECTED, Status.REPLIED)
DEFAULT_WINDOW = timedelta(days=30)
METRICS_WINDOW = timedelta(days=7)  # what /metrics reads at each scrape


class Percentile(Aggregate):
    function = "percentile_cont"
    template = "percentile_cont(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=fraction, **extra)


class Seconds(Func):
    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(*, start: datetime | None = None, end: datetime | None = None) -> Window:
    end = end or timezone.now()
    return Window(start=start or end - DEFAULT_WINDOW, end=end)


def _time_to_decision(rows) -> dict:
    return rows.aggregate(decisions=Count("pk"),
                          p50_seconds=Percentile(Seconds(F("decided_at") - F("created_at")), 0.5),
                          p95_seconds=Percentile(Seconds(F("decided_at") - F("created_at")), 0.95))


def _grouped(rows, field: str, name: str, also: tuple[str, ...] = ()) -> list[dict]:
    duration = Seconds(F("decided_at") - F("created_at"))
    grouped = (rows.values(*also, field).annotate(decisions=Count("pk"), p50_seconds=Percentile(duration, 0.5),
                                                  p95_seconds=Percentile(duration, 0.95)).order_by(*also, field))
    return [{**{key: row[key] for key in also}, name: row[field] or "", "decisions": row["decisions"],
             "p50_seconds": row["p50_seconds"], "p95_seconds": row["p95_seconds"]} for row in grouped]


def _decided(escalations, span: Window):
    return escalations.filter(status__in=DECIDED_BY_A_PERSON, decided_by__isnull=False,
                              decided_at__gte=span.start, decided_at__lt=span.end)


def _chain_ends(escalations, span: Window):
    """Each chain's end in the window (a tier that closed and has no next tier), with `waited`: the seconds
    from its first tier's opening."""
    ends = escalations.filter(next__isnull=True, decided_at__gte=span.start, decided_at__lt=span.end).exclude(
        status__in=(Status.OPEN, Status.CANCELLED))

    def first_tier(**same_step):
        """The chain's first tier: the latest first tier of its task (and tool call) opened before its end."""
        return Subquery(Escalation.objects.filter(
            task_id=OuterRef("task_id"), previous__isnull=True, created_at__lte=OuterRef("created_at"), **same_step)
            .order_by("-created_at").values("created_at")[:1])

    opened = Case(When(step__isnull=True, then=first_tier(step__isnull=True)),
                  default=first_tier(step=OuterRef("step")))
    return ends.annotate(waited=Seconds(F("decided_at") - opened))


CHAIN_FIGURES = {"ended": Count("pk"), "expired": Count("pk", filter=Q(decided_by__isnull=True)),
                 "waiting_seconds": Sum("waited"), "agent_waiting_seconds": Sum("waited", filter=Q(step__isnull=False))}


def approval_stats(*, tenant_id: int, span: Window) -> dict:
    """The tenant's approval SLA figures over the window (see the module's docstring)."""
    escalations = Escalation.objects.filter(tenant_id=tenant_id)
    decided = _decided(escalations, span)
    chains = _chain_ends(escalations, span).aggregate(**CHAIN_FIGURES)
    return {
        "start": span.start, "end": span.end,
        "time_to_decision": _time_to_decision(decided),
        "by_group": _grouped(decided, "approver_group", "group"),
        "by_approver": _grouped(decided, "decided_by__username", "approver"),
        "chains_ended": chains["ended"],
        "expired": chains["expired"],
        "expired_share": chains["expired"] / chains["ended"] if chains["ended"] else None,
        "waiting_seconds": chains["waiting_seconds"] or 0.0,
        "agent_waiting_seconds": chains["agent_waiting_seconds"] or 0.0,
    }


def times_by_tenant_and_group(span: Window) -> list[dict]:
    """Time to decision per tenant and tier group, every tenant at once (for /metrics)."""
    rows = _grouped(_decided(Escalation.objects.all(), span), "approver_group", "group", also=("tenant__slug",))
    return [_tenant_named(row) for row in rows]


def chains_by_tenant(span: Window) -> list[dict]:
    """Ended chains, those no one decided and the time waited, per tenant (for /metrics)."""
    return [_tenant_named(row) for row in _chain_ends(Escalation.objects.all(), span).values("tenant__slug")
            .annotate(**CHAIN_FIGURES).order_by("tenant__slug")]


def _tenant_named(row: dict) -> dict:
    tenant = row.pop("tenant__slug")
    return {**row, "tenant": tenant}


def times_by_day(*, tenant_id: int, days: int, end: datetime | None = None) -> list[tuple[date, dict]]:
    """Time to decision p50/p95 on each of the last `days` UTC days (a day without decisions: None)."""
    end = end or timezone.now()
    first = (end - timedelta(days=days - 1)).date()
    start = datetime.combine(first, datetime.min.time(), tzinfo=dt_timezone.utc)
    decided = _decided(Escalation.objects.filter(tenant_id=tenant_id), Window(start=start, end=end))
    duration = Seconds(F("decided_at") - F("created_at"))
    per_day = {row["day"]: row for row in decided.annotate(day=TruncDate("decided_at", tzinfo=dt_timezone.utc))
               .values("day").annotate(p50_seconds=Percentile(duration, 0.5), p95_seconds=Percentile(duration, 0.95))}
    return [(day, per_day.get(day, {"p50_seconds": None, "p95_seconds": None}))
            for day in (first + timedelta(days=n) for n in range(days))]
