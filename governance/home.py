"""The governance panels of the admin's home page: what waits for the person, what they decided
today, their groups' queue and, for tenant admins, the budget, the tiers and the decisions over time."""

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Count, F, Min, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from core.charts import bar_chart, meter
from core.models import Membership
from core.registries import HomeLink, HomePanel, register_home_link, register_home_panel
from governance import selectors, summaries
from governance.stats import Percentile, Seconds
from governance.models import Escalation

DECIDING, ADMIN = Membership.DECIDING_ROLES, (Membership.Role.ADMIN,)
SHOWN = 8  # rows of a list on the home page; the count says how many there are
DECIDED = (Escalation.Status.APPROVED, Escalation.Status.REJECTED, Escalation.Status.REPLIED)


def start_of_today():
    return timezone.make_aware(datetime.combine(timezone.now().date(), time.min))


def escalation_row(escalation, now) -> dict:
    return {"escalation": escalation, "line": summaries.one_line(escalation),
            "url": reverse("admin:governance_escalation_change", args=[escalation.pk]),
            **summaries.deadline(escalation, now)}


def waiting_for_you(request, membership):
    now = timezone.now()
    waiting = selectors.escalations_waiting_for(user=request.user, membership=membership)
    rows = [escalation_row(e, now) for e in waiting[:SHOWN]]
    return {"count": waiting.count() if len(rows) == SHOWN else len(rows), "rows": rows,
            "due_soon": sum(row["due_soon"] for row in rows),
            "queue_url": reverse("admin:governance_escalation_changelist")}


def decided_by_you_today(request, membership):
    decided = (Escalation.objects.filter(tenant_id=membership.tenant_id, decided_by=request.user,
                                         decided_at__gte=start_of_today())
               .select_related("requester").order_by("-decided_at"))
    rows = [{"escalation": e, "line": summaries.one_line(e),
             "url": reverse("admin:governance_escalation_change", args=[e.pk])} for e in decided[:SHOWN]]
    return {"count": decided.count() if len(rows) == SHOWN else len(rows), "rows": rows}


def your_groups_queue(request, membership):
    """Open escalations per approver group: an approver's own groups (and "any approver"); every group
    for a tenant admin, who may decide them all."""
    open_ones = Escalation.objects.filter(tenant_id=membership.tenant_id, status=Escalation.Status.OPEN)
    if membership.role != Membership.Role.ADMIN:
        open_ones = open_ones.filter(Q(approver_group="") | Q(approver_group__in=request.user.groups.values("name")))
    now = timezone.now()
    groups = [{"group": row["approver_group"] or "any approver", "count": row["count"],
               "nearest": summaries.duration((row["nearest"] - now).total_seconds()),
               "overdue": row["nearest"] <= now,
               "url": reverse("admin:governance_escalation_changelist") + "?" + urlencode(
                   {"status": "open", **({"approver_group": row["approver_group"]} if row["approver_group"] else {})})}
              for row in open_ones.values("approver_group").annotate(count=Count("pk"), nearest=Min("deadline"))
              .order_by("nearest")]
    by_tier = list(open_ones.values("tier").annotate(count=Count("pk")).order_by("tier"))
    return {"groups": groups, "by_tier": by_tier, "show_tiers": membership.role == Membership.Role.ADMIN}


def budget_today(request, membership):
    policy, _ = selectors.policy_current(tenant_id=membership.tenant_id)
    used, limit = selectors.budget_today(tenant_id=membership.tenant_id, policy=policy)
    return {"meter": meter(float(used), None if limit is None else float(limit), label="Budget used today"),
            "autonomy": policy.get("autonomy_level", "").replace("_", " "),
            "threshold": policy.get("cost_threshold")}


def decisions_over_time(request, membership):
    """Decisions per day over 14 days, and the median time from opening to decision on each day."""
    today = timezone.now().date()
    days = [today - timedelta(days=n) for n in range(13, -1, -1)]
    per_day = {row["day"]: row for row in (
        Escalation.objects.filter(tenant_id=membership.tenant_id, status__in=DECIDED,
                                  decided_at__gte=start_of_today() - timedelta(days=13))
        .annotate(day=TruncDate("decided_at")).values("day")
        .annotate(count=Count("pk"), median=Percentile(Seconds(F("decided_at") - F("created_at")), 0.5)))}
    label = "{:%b %d}".format
    medians = [per_day.get(day, {}).get("median") or 0 for day in days]
    minutes = max(medians) >= 120  # seconds until the slowest day took two minutes
    return {
        "decisions": bar_chart([(label(day), per_day.get(day, {}).get("count", 0)) for day in days],
                               title="Decisions per day, last 14 days"),
        "time_to_decision": bar_chart(
            [(label(day), median / 60 if minutes else median) for day, median in zip(days, medians, strict=True)],
            title=f"Median time to decision, {'minutes' if minutes else 'seconds'}",
            unit=" min" if minutes else " s", total=False)}


def register():
    for panel in (
        HomePanel("waiting", "admin/governance/home/waiting.html", waiting_for_you, DECIDING, order=10),
        HomePanel("decided_today", "admin/governance/home/decided_today.html", decided_by_you_today, DECIDING,
                  order=20),
        HomePanel("groups", "admin/governance/home/groups.html", your_groups_queue, DECIDING, order=30),
        HomePanel("budget", "admin/governance/home/budget.html", budget_today, ADMIN, order=55),
        HomePanel("decisions", "admin/governance/home/decisions.html", decisions_over_time, DECIDING, order=70),
    ):
        register_home_panel(panel)
    register_home_link(HomeLink("Configuration", "admin:core_configversion_changelist", ADMIN, order=10))
    register_home_link(HomeLink("Policy and suggestions", "admin:governance_policy", ADMIN, order=15))
    register_home_link(HomeLink("Audit log", "admin:governance_auditevent_changelist", ADMIN, order=40))
