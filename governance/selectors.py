from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.configuration import selectors as configuration
from core.models import ConfigVersion, Membership
from core.selectors import membership_for_user
from governance.hooks import EscalationOutcome
from governance.models import AuditEvent, DailyUsage, Escalation

POLICY = "policy"  # the policy's configuration document (core.configuration; registered in GovernanceConfig.ready)


def policy_current(*, tenant_id: int) -> tuple[dict, int]:
    """The policy in force and its version (0: the defaults, never saved)."""
    return configuration.config_current(tenant_id=tenant_id, document=POLICY)


def policy_versions(*, tenant_id: int) -> QuerySet[ConfigVersion]:
    return configuration.config_versions(tenant_id=tenant_id, document=POLICY)


def escalations_active(*, tenant_id: int) -> QuerySet[Escalation]:
    return Escalation.objects.filter(tenant_id=tenant_id, status=Escalation.Status.OPEN).select_related(
        "requester").order_by("deadline")


def escalation_for_user(*, user, escalation_id) -> Escalation | None:
    """An escalation of the user's tenant that they may see: approvers and admins see every one,
    a submitter only those of their own tasks."""
    membership = membership_for_user(user)
    escalations = Escalation.objects.for_tenant(membership.tenant_id).filter(pk=escalation_id)
    if membership.role not in Membership.DECIDING_ROLES:
        escalations = escalations.filter(requester_id=user.pk)
    return escalations.select_related("requester", "decided_by").first()


def escalation_for_task(*, task_id) -> Escalation | None:
    """The task's latest escalation (the open one, while one is open)."""
    return Escalation.objects.filter(task_id=task_id).order_by("-created_at").first()


def escalations_closed_before(*, before, task_ids, limit: int = 500) -> list[tuple[Escalation, EscalationOutcome]]:
    """The closed ends of the escalation chains of these tasks (a query of ids), decided before `before`,
    with the outcome each means for its task."""
    closed = (Escalation.objects.filter(task_id__in=task_ids, decided_at__lt=before,
                                        status__in=[Escalation.Status.APPROVED, Escalation.Status.REJECTED,
                                                    Escalation.Status.EXPIRED, Escalation.Status.REPLIED])
              .select_related("decided_by").order_by("decided_at")[:limit])
    outcomes = []
    for escalation in closed:
        if escalation.status == Escalation.Status.EXPIRED:
            approved = escalation.final_outcome == "approve"
            outcomes.append((escalation, EscalationOutcome.APPROVED if approved else EscalationOutcome.EXPIRED))
        else:
            outcomes.append((escalation, EscalationOutcome(escalation.status)))
    return outcomes


def audit_events(*, tenant_id: int, action: str | None = None, object_id: str | None = None,
                 actor: str | None = None, since=None, until=None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("-seq")
    if action:
        events = events.filter(action=action)
    if object_id:
        events = events.filter(object_id=object_id)
    if actor:
        events = events.filter(actor=actor)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events


def escalations_waiting_for(*, user, membership: Membership | None) -> QuerySet[Escalation]:
    """The open escalations this person may decide now, nearest deadline first. The same rules as
    services.escalation_refusal (tenant, role, the tier's group, four-eyes) as one query; past their
    deadline they belong to the sweep, not to a person."""
    if membership is None or membership.role not in Membership.DECIDING_ROLES:
        return Escalation.objects.none()
    waiting = (Escalation.objects.filter(tenant_id=membership.tenant_id, status=Escalation.Status.OPEN,
                                         deadline__gt=timezone.now())
               .exclude(requester_id=user.pk, allow_self_approval=False))
    if membership.role != Membership.Role.ADMIN:
        waiting = waiting.filter(Q(approver_group="") | Q(approver_group__in=user.groups.values("name")))
    return waiting.select_related("requester").order_by("deadline", "created_at")


def budget_today(*, tenant_id: int, policy: dict | None = None) -> tuple[Decimal, Decimal | None]:
    """The cost committed today (UTC) and the policy's daily budget (None: no budget); `policy`, when the
    caller has read it already."""
    if policy is None:
        policy, _ = policy_current(tenant_id=tenant_id)
    used = (DailyUsage.objects.filter(tenant_id=tenant_id, day=timezone.now().date())
            .values_list("committed", flat=True).first()) or Decimal(0)
    limit = policy.get("daily_budget")
    return used, None if limit is None else Decimal(str(limit))
