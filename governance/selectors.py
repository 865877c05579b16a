from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from core.configuration import selectors as configuration
from core.models import ConfigVersion, Membership
from core.selectors import membership_for_user
from governance.hooks import EscalationOutcome
from governance.models import AuditEvent, DailyUsage, Delegation, Escalation, EscalationVote
from governance.policy import POLICY_SCHEMA

_VOTES = Prefetch("votes", queryset=EscalationVote.objects.select_related("voter", "on_behalf_of"))
POLICY = "policy"  # the policy's configuration document (core.configuration; registered in GovernanceConfig.ready)


def policy_current(*, tenant_id: int) -> tuple[dict, int]:
    """The policy in force and its version (0: the defaults, never saved)."""
    return configuration.config_current(tenant_id=tenant_id, document=POLICY)


def policy_changed(*, tenant_id: int, document: dict) -> dict:
    """The policy a change would put in force: `document` over the policy in force (keys the schema no longer
    knows are dropped), as policy_update saves it and simulations replay it."""
    current, _ = policy_current(tenant_id=tenant_id)
    known = {key: value for key, value in current.items() if key in POLICY_SCHEMA["properties"]}
    return {**known, **document}


def policy_versions(*, tenant_id: int) -> QuerySet[ConfigVersion]:
    return configuration.config_versions(tenant_id=tenant_id, document=POLICY)


def escalations_active(*, tenant_id: int) -> QuerySet[Escalation]:
    return (Escalation.objects.filter(tenant_id=tenant_id, status=Escalation.Status.OPEN)
            .select_related("requester").prefetch_related(_VOTES).order_by("deadline"))


def escalation_for_user(*, user, escalation_id) -> Escalation | None:
    """An escalation of the user's tenant that they may see: approvers and admins see every one,
    a submitter only those of their own tasks."""
    membership = membership_for_user(user)
    escalations = Escalation.objects.for_tenant(membership.tenant_id).filter(pk=escalation_id)
    if membership.role not in Membership.DECIDING_ROLES:
        escalations = escalations.filter(requester_id=user.pk)
    return escalations.select_related("requester", "decided_by", "decided_for").prefetch_related(_VOTES).first()


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


def delegations_to(*, tenant_id: int, user_id: int, at=None) -> QuerySet[Delegation]:
    """The delegations this user holds now (or at `at`): whose escalations they may decide."""
    at = at or timezone.now()
    return (Delegation.objects.filter(tenant_id=tenant_id, delegate_id=user_id, starts_at__lte=at, ends_at__gt=at,
                                      revoked_at__isnull=True).select_related("delegator").order_by("starts_at"))


def delegations_of(*, tenant_id: int, user=None, membership: Membership | None = None) -> QuerySet[Delegation]:
    """A tenant's delegations, newest first: an admin sees all, an approver those they gave or hold."""
    delegations = Delegation.objects.filter(tenant_id=tenant_id).select_related("delegator", "delegate", "created_by")
    if membership is not None and membership.role != Membership.Role.ADMIN:
        delegations = delegations.filter(Q(delegator=user) | Q(delegate=user))
    return delegations.order_by("-starts_at", "-pk")


def away_now(*, tenant_id: int, at=None) -> dict[int, int]:
    """The approvers who have handed their escalations to a delegate now: {delegator id: delegate id}."""
    at = at or timezone.now()
    return dict(Delegation.objects.filter(tenant_id=tenant_id, starts_at__lte=at, ends_at__gt=at,
                                          revoked_at__isnull=True).values_list("delegator_id", "delegate_id"))


def _may_decide_in_own_right(user, membership: Membership) -> Q:
    """services.escalation_refusal's rules for one person (role, the tier's group, four-eyes), as a filter."""
    if membership.role not in Membership.DECIDING_ROLES:
        return Q(pk__in=[])
    mine = ~Q(requester_id=user.pk, allow_self_approval=False)
    if membership.role != Membership.Role.ADMIN:
        mine &= Q(approver_group="") | Q(approver_group__in=user.groups.values("name"))
    return mine


def escalations_waiting_for(*, user, membership: Membership | None) -> QuerySet[Escalation]:
    """The open escalations this person may decide now and has not answered, nearest deadline first: in
    their own right or for an approver whose delegate they are. The same rules as
    services.escalation_refusal as one query; past their deadline they belong to the sweep, not to a person."""
    if membership is None or membership.role not in Membership.DECIDING_ROLES:
        return Escalation.objects.none()
    allowed = _may_decide_in_own_right(user, membership)
    for delegation in delegations_to(tenant_id=membership.tenant_id, user_id=user.pk):
        seat = Membership.objects.filter(user=delegation.delegator, tenant_id=membership.tenant_id).first()
        if seat is not None and delegation.delegator.is_active:
            allowed |= _may_decide_in_own_right(delegation.delegator, seat)
    answered = EscalationVote.objects.filter(tenant_id=membership.tenant_id).filter(
        Q(voter_id=user.pk) | Q(on_behalf_of_id=user.pk)).values("escalation_id")
    waiting = (Escalation.objects.filter(tenant_id=membership.tenant_id, status=Escalation.Status.OPEN,
                                         deadline__gt=timezone.now())
               .filter(allowed).exclude(requester_id=user.pk, allow_self_approval=False).exclude(pk__in=answered))
    return waiting.select_related("requester").order_by("deadline", "created_at")


def escalation_votes(*, escalation_id) -> QuerySet[EscalationVote]:
    return EscalationVote.objects.filter(escalation_id=escalation_id).select_related("voter", "on_behalf_of")


def budget_today(*, tenant_id: int, policy: dict | None = None) -> tuple[Decimal, Decimal | None]:
    """The cost committed today (UTC) and the policy's daily budget (None: no budget); `policy`, when the
    caller has read it already."""
    if policy is None:
        policy, _ = policy_current(tenant_id=tenant_id)
    used = (DailyUsage.objects.filter(tenant_id=tenant_id, day=timezone.now().date())
            .values_list("committed", flat=True).first()) or Decimal(0)
    limit = policy.get("daily_budget")
    return used, None if limit is None else Decimal(str(limit))
