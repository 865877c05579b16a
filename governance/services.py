"""Governance writes: decisions with budget reservation, policy versions, escalations and their
decisions. Every change is audited in the same transaction."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import jsonschema
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.configuration import services as configuration
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import ConfigVersion, Membership, Tenant
from core.selectors import active_membership
from governance import hooks, selectors
from governance.audit import audit_record
from governance.hooks import EscalationOutcome
from governance.metrics import APPROVAL_DECISIONS
from governance.models import DailyUsage, DecisionRecord, Delegation, Escalation, EscalationVote
from governance.policy import ALLOW, Decision, TaskFacts, decide
from governance.selectors import POLICY, delegations_to, policy_current

# --- decisions and budget -----------------------------------------------------------------------


def _locked_usage(tenant_id: int) -> DailyUsage:
    """Today's usage row, locked until the caller's transaction ends: racing submissions queue here."""
    today = timezone.now().date()
    DailyUsage.objects.bulk_create([DailyUsage(tenant_id=tenant_id, day=today)], ignore_conflicts=True)
    return DailyUsage.objects.select_for_update().get(tenant_id=tenant_id, day=today)


@dataclass(frozen=True)
class DecisionSubject:
    """What a decision was about: a task (its id), or an agent run's tool call (the run's id and the step)."""

    task_id: uuid.UUID | None = None
    step: int | None = None


def decisions_make(*, tenant_id: int, facts: list[TaskFacts],
                   subjects: list[DecisionSubject] | None = None) -> tuple[list[Decision], dict, int]:
    """Decide on tasks submitted together, in order, and count the estimated cost of each one that may run
    now against today's budget (so each is decided on what the ones before it left). Must run inside the
    submitting transaction, so the count and the tasks commit together; the usage row stays locked until
    then, so racing submissions cannot overspend. Usage is only counted while the policy sets a daily
    budget (without one there is nothing to lock or to overspend). Every decision is recorded with the facts
    and the day's committed cost it saw (DecisionRecord), in one insert, for simulations to replay."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("decisions_make must run inside the submitting transaction")
    policy, version = policy_current(tenant_id=tenant_id)
    seen = []  # the committed cost each decision saw
    if policy.get("daily_budget") is None:
        decisions = [decide(policy, task, Decimal(0)) for task in facts]
        seen = [None] * len(facts)  # nothing counted
    else:
        usage = _locked_usage(tenant_id)
        decisions = []
        for task in facts:
            seen.append(usage.committed)
            decision = decide(policy, task, usage.committed)
            if decision.outcome == ALLOW:
                usage.committed += Decimal(str(task.estimated_cost))
            decisions.append(decision)
        usage.save(update_fields=["committed"])
    _decisions_record(tenant_id, facts, subjects or [DecisionSubject()] * len(facts), decisions, seen, version)
    return decisions, policy, version


def _decisions_record(tenant_id: int, facts, subjects, decisions, seen, version: int) -> None:
    now = timezone.now()
    DecisionRecord.objects.bulk_create([
        DecisionRecord(
            tenant_id=tenant_id, task_id=subject.task_id, step=subject.step, task_type=task.task_type,
            subject=(DecisionRecord.Subject.TOOL_CALL if subject.step is not None or task.task_type.startswith("tool:")
                     else DecisionRecord.Subject.TASK),
            risk=task.risk, external_side_effects=task.external_side_effects,
            estimated_cost=Decimal(str(task.estimated_cost)), committed_before=committed, outcome=decision.outcome,
            reasons=decision.reasons, policy_version=version, created_at=now)
        for task, subject, decision, committed in zip(facts, subjects, decisions, seen, strict=True)])


def decision_make(*, tenant_id: int, facts: TaskFacts, task_id=None, step: int | None = None
                  ) -> tuple[Decision, dict, int]:
    """decisions_make for one task (an agent's tool call: the run's `task_id` and the call's `step`)."""
    decisions, policy, version = decisions_make(tenant_id=tenant_id, facts=[facts],
                                                subjects=[DecisionSubject(task_id=task_id, step=step)])
    return decisions[0], policy, version


def _count_cost(tenant_id: int, cost) -> None:
    """Count a human-approved (or approved-by-default) task against today's budget, if one is set."""
    policy, _ = policy_current(tenant_id=tenant_id)
    if policy.get("daily_budget") is not None:
        usage = _locked_usage(tenant_id)
        usage.committed += Decimal(str(cost))
        usage.save(update_fields=["committed"])


def budget_settle(*, tenant_id: int, reserved, actual) -> None:
    """A task whose real cost is known only at its end (an agent run) was counted at its estimate: count
    the difference against the same day's budget, if one is set."""
    difference = Decimal(str(actual)) - Decimal(str(reserved))
    if difference:
        _count_cost(tenant_id, difference)


# --- policies -----------------------------------------------------------------------------------


@transaction.atomic
def policy_update(*, tenant_id: int, user, document: dict, note: str = "", correlation_id: str = "") -> ConfigVersion:
    """Save a new version of the tenant's policy: `document` (validated) over the policy in force, which is
    stored whole (a version says the whole policy it put in force, as it always has)."""
    Tenant.objects.select_for_update().get(pk=tenant_id)  # one policy writer per tenant at a time
    return configuration.config_update(tenant_id=tenant_id, document=POLICY, user=user, reason=note,
                                       content=selectors.policy_changed(tenant_id=tenant_id, document=document),
                                       correlation_id=correlation_id)


@transaction.atomic
def policy_rollback(*, tenant_id: int, user, version: int, correlation_id: str = "") -> ConfigVersion:
    """A new version whose document is that of an earlier one (history is never rewritten)."""
    return configuration.config_rollback(tenant_id=tenant_id, document=POLICY, version=version, user=user,
                                         correlation_id=correlation_id)


# --- escalations --------------------------------------------------------------------------------


def _snapshot(escalation: Escalation) -> dict:
    snapshot = {"status": escalation.status, "tier": escalation.tier, "approver_group": escalation.approver_group,
                "deadline": escalation.deadline.isoformat(), "task_id": str(escalation.task_id)}
    if escalation.quorum > 1 or escalation.reject_quorum > 1:
        snapshot.update(quorum=escalation.quorum, reject_quorum=escalation.reject_quorum,
                        approvals=escalation.approvals, rejections=escalation.rejections)
    if escalation.step is not None:
        snapshot.update(step=escalation.step, tool=escalation.tool, arguments=escalation.parameters)
    return snapshot


def _tool_answer_errors(escalation: Escalation, *, arguments, message: str, stop_run: bool, outcome: str) -> dict:
    """What is wrong with an answer to a tool call (edited arguments, a reply, stopping the run)."""
    errors = {}
    if escalation.step is None and (arguments is not None or message or stop_run):
        errors["non_field_errors"] = ["Edited arguments, a reply and stopping a run apply to an agent's tool call "
                                      "only; this escalation is for a task."]
    elif arguments is not None:
        if not isinstance(arguments, dict):
            errors["arguments"] = ["Expected a JSON object."]
        elif escalation.arguments_schema:
            validator = jsonschema.Draft202012Validator(escalation.arguments_schema)
            problems = [f"{'.'.join(map(str, e.path)) or '(arguments)'}: {e.message}"
                        for e in validator.iter_errors(arguments)]
            if problems:
                errors["arguments"] = problems
    if outcome == Escalation.Status.REPLIED and not (message or "").strip():
        errors["message"] = ["The message the agent receives is required."]
    return errors


def _tier_fields(ladder: list, tier: int, reminder_fraction, now) -> dict:
    """A tier's approvers, deadline, quorum and reminder time, from the ladder the chain opened with."""
    step = ladder[tier]
    seconds = step["timeout_seconds"]
    return {"tier": tier, "approver_group": step.get("group", ""), "deadline": now + timedelta(seconds=seconds),
            "quorum": step.get("quorum", 1), "reject_quorum": step.get("reject_quorum", 1),
            "remind_at": now + timedelta(seconds=seconds * reminder_fraction) if reminder_fraction else None}


@transaction.atomic
def escalation_open(*, tenant_id: int, task_id, facts: TaskFacts, summary: str, parameters: dict, requester,
                    reasons: list[str], policy: dict, policy_version: int, correlation_id: str = "",
                    step: int | None = None, tool: str = "", agent_reason: str = "",
                    arguments_schema: dict | None = None, channel: str = "") -> Escalation:
    """Open the first tier of the policy's ladder for a task, or for an agent run's tool call (`step`,
    `tool`, the agent's reason and the schema edited arguments must satisfy), that needs a human."""
    ladder = policy.get("ladder") or [{"group": "", "timeout_seconds": 900}]
    escalation = Escalation.objects.create(
        tenant_id=tenant_id, task_id=task_id, task_type=facts.task_type, summary=summary, parameters=parameters,
        risk=facts.risk, estimated_cost=facts.estimated_cost, requester=requester, channel=channel, reasons=reasons,
        policy_version=policy_version, ladder=ladder, reminder_fraction=policy.get("reminder_fraction"),
        final_outcome=policy.get("final_outcome", "reject"),
        allow_self_approval=bool(policy.get("allow_self_approval")), correlation_id=correlation_id,
        step=step, tool=tool, agent_reason=agent_reason[:4000], arguments_schema=arguments_schema,
        **_tier_fields(ladder, 0, policy.get("reminder_fraction"), timezone.now()))
    audit_record(tenant_id=tenant_id, actor=requester.get_username(), action="escalation.opened",
                 object_type="escalation", object_id=escalation.pk, after=_snapshot(escalation),
                 correlation_id=correlation_id)
    hooks.escalation_opened(escalation)
    return escalation


def escalation_refusal(escalation: Escalation, user, membership: Membership | None = None) -> str | None:
    """Why this user may not decide this escalation, or None if they may (themselves, or as a delegate)."""
    return escalation_standing(escalation, user, membership)[0]


def escalation_standing(escalation: Escalation, user, membership: Membership | None = None):
    """(why this user may not decide this escalation or None, the approver they would decide for as a delegate
    or None). `membership` is the one a request acts in (a request in another tenant may decide nothing here);
    without one, the user's in the escalation's tenant (a chat reply, a button)."""
    if getattr(user, "api_key", None) is not None:  # core.authentication.APIKeyAuthentication's request
        return "an API key may not decide escalations: a person must (sign in as one)", None
    membership = membership or Membership.objects.filter(user=user, tenant_id=escalation.tenant_id).first()
    if membership is None or membership.tenant_id != escalation.tenant_id:
        if user.is_superuser:  # operators read every tenant; deciding is for the tenant's own people
            return "you are not in this escalation's tenant: a superuser decides only through a membership there", None
        return "you are not in this escalation's tenant", None
    refusal = _seat_refusal(escalation, user, membership)
    if refusal is None or escalation.requester_id == user.pk:
        return refusal, None  # no delegation lets anyone decide on their own task
    for delegation in delegations_to(tenant_id=escalation.tenant_id, user_id=user.pk):
        delegator = delegation.delegator
        seat = Membership.objects.filter(user=delegator, tenant_id=escalation.tenant_id).first()
        if delegator.is_active and seat and _seat_refusal(escalation, delegator, seat) is None:
            return None, delegator
    return refusal, None


def _seat_refusal(escalation: Escalation, user, membership: Membership) -> str | None:
    """Why this member of the escalation's tenant may not decide it in their own right."""
    if membership.role not in (Membership.Role.APPROVER, Membership.Role.ADMIN):
        return "only approvers and admins may decide escalations"
    if (escalation.approver_group and membership.role != Membership.Role.ADMIN
            and not user.groups.filter(name=escalation.approver_group).exists()):
        return f"this tier is for the approver group {escalation.approver_group!r}"
    if escalation.requester_id == user.pk and not escalation.allow_self_approval:
        return "you may not decide on your own task (four-eyes rule)"
    return None


def escalation_answered(escalation: Escalation, user, on_behalf_of=None) -> str | None:
    """Each person answers a tier once, and so does each approver's seat: a delegate's answer for someone is
    theirs, so neither of the two answers again (two approvals are two people)."""
    people = {user.pk} | ({on_behalf_of.pk} if on_behalf_of else set())
    earlier = (EscalationVote.objects.filter(escalation=escalation)
               .filter(Q(voter_id__in=people) | Q(on_behalf_of_id__in=people))
               .select_related("voter", "on_behalf_of").first())
    if earlier is None:
        return None
    who = earlier.voter.get_username() + (f" for {earlier.on_behalf_of.get_username()}" if earlier.on_behalf_of_id
                                          else "")
    return (f"{who} {earlier.outcome} this tier already ({escalation.quorum_text or 'one answer each'}); it is "
            "decided once enough other approvers answer")


def _decide(*, escalation_id, user, outcome: str, reason: str, channel: str, correlation_id: str,
            arguments=None, message: str = "", stop_run: bool = False) -> Escalation:
    """One person's answer. With a quorum it is a vote: the answer that completes the approvals (or the
    rejections) closes the escalation; the row's lock makes racing answers take turns, so exactly one does."""
    if not (reason or "").strip():
        raise Invalid(details={"reason": ["A reason is required."]})
    for field, text in (("reason", reason), ("message", message)):
        if "\x00" in (text or ""):  # from a form or a chat message: PostgreSQL text cannot hold it
            raise Invalid(details={field: ["NUL characters are not accepted."]})
    escalation = Escalation.objects.select_for_update().filter(pk=escalation_id).first()
    # The tenant the request acts in (a token's, a session's); a chat reply or button names none: the escalation's.
    membership = active_membership(user) or (
        Membership.objects.filter(user=user, tenant_id=escalation.tenant_id).first() if escalation else None)
    if escalation is None or membership is None or membership.tenant_id != escalation.tenant_id:
        raise NotFound("No such escalation.")
    if escalation.status != Escalation.Status.OPEN:
        by = f" by {escalation.decided_by.get_username()}" if escalation.decided_by_id else ""
        raise Conflict(f"This escalation is already {escalation.status}{by}; the first decision stands.")
    if escalation.deadline <= timezone.now():
        # The final outcome is the policy's, applied by the sweep within seconds; a late click does not race it.
        raise Conflict("This escalation's deadline has passed; it is timing out to the next tier or the default.")
    refusal, on_behalf_of = escalation_standing(escalation, user, membership)
    if refusal:
        raise Forbidden(refusal)
    errors = _tool_answer_errors(escalation, arguments=arguments, message=message, stop_run=stop_run, outcome=outcome)
    if errors:
        raise Invalid(details=errors)
    answered = escalation_answered(escalation, user, on_behalf_of)
    if answered:
        raise Conflict(f"You cannot answer again: {answered}.")
    approving = outcome == Escalation.Status.APPROVED
    if approving and escalation.approvals:  # later approvals approve what the first one did
        first = EscalationVote.objects.filter(escalation=escalation, outcome=outcome).select_related("voter").first()
        if arguments is not None and arguments != first.arguments:
            raise Conflict(f"{first.voter.get_username()} approved this call "
                           f"{'with edited arguments' if first.arguments is not None else 'as the agent asked'}; "
                           "approve it as it stands (without arguments) or reject it.")
        arguments = first.arguments
    before = _snapshot(escalation)
    vote = EscalationVote.objects.create(
        tenant_id=escalation.tenant_id, escalation=escalation, voter=user, on_behalf_of=on_behalf_of, outcome=outcome,
        reason=reason.strip()[:2000], channel=channel, arguments=arguments)
    if approving:
        escalation.approvals += 1
    else:
        escalation.rejections += 1
    counts = ["approvals", "rejections"]
    answer = {"reason": vote.reason, "channel": channel}
    if on_behalf_of:
        answer["on_behalf_of"] = on_behalf_of.get_username()
    if arguments is not None:
        answer["edited_arguments"] = arguments
    decides = (escalation.approvals >= escalation.quorum if approving
               else escalation.rejections >= escalation.reject_quorum)
    if not decides:
        escalation.save(update_fields=counts)
        audit_record(tenant_id=escalation.tenant_id, actor=user.get_username(), action="escalation.vote",
                     object_type="escalation", object_id=escalation.pk, before=before,
                     after={**_snapshot(escalation), **answer, "vote": outcome}, correlation_id=correlation_id)
        hooks.escalation_voted(escalation, vote)
        return escalation
    escalation.status = outcome
    escalation.decided_by = user
    escalation.decided_for = on_behalf_of
    escalation.decided_at = timezone.now()
    escalation.decision_reason = vote.reason
    escalation.decision_channel = channel
    escalation.decision_arguments = arguments
    escalation.decision_message = (message or "").strip()[:20000]
    escalation.stop_run = stop_run
    escalation.save(update_fields=["status", "decided_by", "decided_for", "decided_at", "decision_reason",
                                   "decision_channel", "decision_arguments", "decision_message", "stop_run", *counts])
    if approving:
        _count_cost(escalation.tenant_id, escalation.estimated_cost)
    if escalation.decision_message:
        answer["message"] = escalation.decision_message
    if stop_run:
        answer["stop_run"] = True
    audit_record(tenant_id=escalation.tenant_id, actor=user.get_username(), action=f"escalation.{outcome}",
                 object_type="escalation", object_id=escalation.pk, before=before,
                 after={**_snapshot(escalation), **answer}, correlation_id=correlation_id)
    hooks.escalation_closed(escalation, EscalationOutcome(outcome))
    transaction.on_commit(lambda: APPROVAL_DECISIONS.labels(outcome=outcome).inc())
    return escalation


@transaction.atomic
def escalation_approve(*, escalation_id, user, reason: str, channel: str = "api", correlation_id: str = "",
                       arguments: dict | None = None) -> Escalation:
    """Approve: the task is queued, or the agent's tool call runs (with `arguments` when the approver
    edited them; they must satisfy the tool's schema). Only an approver of the tier's group in the
    tenant, never the requester (unless the policy allows it); the first decision wins."""
    return _decide(escalation_id=escalation_id, user=user, outcome=Escalation.Status.APPROVED, reason=reason,
                   channel=channel, correlation_id=correlation_id, arguments=arguments)


@transaction.atomic
def escalation_reject(*, escalation_id, user, reason: str, channel: str = "api", correlation_id: str = "",
                      stop_run: bool = False) -> Escalation:
    """Reject: the task is rejected; for a tool call the agent is told and goes on, or (`stop_run`) its
    run ends. Same rules as approval."""
    return _decide(escalation_id=escalation_id, user=user, outcome=Escalation.Status.REJECTED, reason=reason,
                   channel=channel, correlation_id=correlation_id, stop_run=stop_run)


@transaction.atomic
def escalation_reply(*, escalation_id, user, reason: str, message: str, channel: str = "api",
                     correlation_id: str = "") -> Escalation:
    """Answer an agent's tool call with a message it receives instead of the tool's result ("request
    changes"); the tool does not run. Same rules as approval."""
    return _decide(escalation_id=escalation_id, user=user, outcome=Escalation.Status.REPLIED, reason=reason,
                   channel=channel, correlation_id=correlation_id, message=message)


@transaction.atomic
def escalation_withdraw(*, task_id, actor: str, correlation_id: str = "") -> Escalation | None:
    """Close the open escalation of a task that was cancelled before anyone decided."""
    escalation = Escalation.objects.select_for_update().filter(task_id=task_id,
                                                               status=Escalation.Status.OPEN).first()
    if escalation is None:
        return None
    before = _snapshot(escalation)
    escalation.status = Escalation.Status.CANCELLED
    escalation.decided_at = timezone.now()
    escalation.save(update_fields=["status", "decided_at"])
    audit_record(tenant_id=escalation.tenant_id, actor=actor, action="escalation.cancelled",
                 object_type="escalation", object_id=escalation.pk, before=before, after=_snapshot(escalation),
                 correlation_id=correlation_id)
    hooks.escalation_closed(escalation, EscalationOutcome.WITHDRAWN)
    return escalation


@transaction.atomic
def escalation_timeout(*, escalation_id) -> Escalation | None:
    """A deadline passed: move up the ladder, or apply the final outcome. Fires once: the row is
    locked (others skip it) and must still be open and due."""
    now = timezone.now()
    escalation = (Escalation.objects.select_for_update(skip_locked=True)
                  .filter(pk=escalation_id, status=Escalation.Status.OPEN, deadline__lte=now).first())
    if escalation is None:
        return None
    before = _snapshot(escalation)
    next_tier = escalation.tier + 1
    if next_tier < len(escalation.ladder):
        escalation.status = Escalation.Status.ESCALATED
        escalation.decided_at = now
        escalation.save(update_fields=["status", "decided_at"])
        successor = Escalation.objects.create(
            tenant_id=escalation.tenant_id, task_id=escalation.task_id, task_type=escalation.task_type,
            summary=escalation.summary, parameters=escalation.parameters, risk=escalation.risk,
            estimated_cost=escalation.estimated_cost, requester=escalation.requester, channel=escalation.channel,
            reasons=escalation.reasons,
            policy_version=escalation.policy_version, ladder=escalation.ladder,
            reminder_fraction=escalation.reminder_fraction,
            **_tier_fields(escalation.ladder, next_tier, escalation.reminder_fraction, now),
            final_outcome=escalation.final_outcome, allow_self_approval=escalation.allow_self_approval,
            previous=escalation, correlation_id=escalation.correlation_id, step=escalation.step, tool=escalation.tool,
            agent_reason=escalation.agent_reason, arguments_schema=escalation.arguments_schema)
        audit_record(tenant_id=escalation.tenant_id, actor="system", action="escalation.escalated",
                     object_type="escalation", object_id=escalation.pk, before=before,
                     after={**_snapshot(escalation), "next": str(successor.pk), "next_tier": next_tier},
                     correlation_id=escalation.correlation_id)
        hooks.escalation_opened(successor)
        return successor
    escalation.status = Escalation.Status.EXPIRED
    escalation.decided_at = now
    escalation.decision_reason = f"no decision before the deadline; final outcome: {escalation.final_outcome}"
    escalation.save(update_fields=["status", "decided_at", "decision_reason"])
    outcome = EscalationOutcome.APPROVED if escalation.final_outcome == "approve" else EscalationOutcome.EXPIRED
    if outcome == EscalationOutcome.APPROVED:
        _count_cost(escalation.tenant_id, escalation.estimated_cost)
    audit_record(tenant_id=escalation.tenant_id, actor="system", action="escalation.expired",
                 object_type="escalation", object_id=escalation.pk, before=before,
                 after={**_snapshot(escalation), "final_outcome": escalation.final_outcome},
                 correlation_id=escalation.correlation_id)
    hooks.escalation_closed(escalation, outcome)
    transaction.on_commit(lambda: APPROVAL_DECISIONS.labels(outcome="expired").inc())
    return escalation


def escalations_expire_due(*, limit: int = 200) -> int:
    """Time out every open escalation past its deadline; each in its own transaction."""
    due = list(Escalation.objects.filter(status=Escalation.Status.OPEN, deadline__lte=timezone.now())
               .order_by("deadline").values_list("pk", flat=True)[:limit])
    return sum(1 for escalation_id in due if escalation_timeout(escalation_id=escalation_id) is not None)



def escalation_approvers(escalation: Escalation) -> list[tuple]:
    """Who should hear of this open escalation now: (person, the approver they stand in for or None) for
    everyone who may decide it and has not answered. An approver away on delegation is left out: their
    delegate hears instead."""
    away = selectors.away_now(tenant_id=escalation.tenant_id)
    answered = set()
    for voter_id, for_id in EscalationVote.objects.filter(escalation=escalation).values_list("voter_id",
                                                                                            "on_behalf_of_id"):
        answered |= {voter_id, for_id}
    memberships = (Membership.objects.filter(tenant_id=escalation.tenant_id, role__in=Membership.DECIDING_ROLES,
                                             user__is_active=True).exclude(user_id__in=answered | set(away))
                   .select_related("user").order_by("user_id"))
    people = []
    for membership in memberships:
        refusal, on_behalf_of = escalation_standing(escalation, membership.user, membership)
        if refusal is None and not (on_behalf_of and on_behalf_of.pk in answered):
            people.append((membership.user, on_behalf_of))
    return people


def escalations_remind_due(*, limit: int = 200) -> int:
    """Open escalations whose reminder time came: each is claimed once (its reminder time cleared under the
    row's lock) and its approvers who have not answered are reminded after the commit (hooks)."""
    now = timezone.now()
    due = list(Escalation.objects.filter(remind_at__lte=now, status=Escalation.Status.OPEN, deadline__gt=now)
               .order_by("remind_at").values_list("pk", flat=True)[:limit])
    reminded = 0
    for escalation_id in due:
        with transaction.atomic():
            escalation = (Escalation.objects.select_for_update(skip_locked=True)
                          .filter(pk=escalation_id, status=Escalation.Status.OPEN, remind_at__lte=now).first())
            if escalation is None:
                continue
            escalation.remind_at = None
            escalation.save(update_fields=["remind_at"])
            hooks.escalation_reminder(escalation)
            reminded += 1
    return reminded


# --- delegation ---------------------------------------------------------------------------------

MAX_DELEGATION = timedelta(days=366)


def _delegation_snapshot(delegation: Delegation) -> dict:
    return {"delegator": delegation.delegator.get_username(), "delegate": delegation.delegate.get_username(),
            "starts_at": delegation.starts_at.isoformat(), "ends_at": delegation.ends_at.isoformat(),
            "reason": delegation.reason, "revoked_at": delegation.revoked_at and delegation.revoked_at.isoformat()}


@transaction.atomic
def delegation_create(*, membership: Membership, delegator, delegate, ends_at, starts_at=None, reason: str = "",
                      correlation_id: str = "") -> Delegation:
    """An approver (or a tenant admin, for any approver) hands their escalations to another approver of the
    tenant for a period. Refused: to oneself, to someone who is away themselves then, by someone who stands in
    for another then (no chains), or over a period the delegator has delegated already."""
    actor = membership.user
    tenant_id = membership.tenant_id
    if membership.role not in Membership.DECIDING_ROLES:
        raise Forbidden("Only approvers and admins may delegate their approvals.")
    if delegator.pk != actor.pk and membership.role != Membership.Role.ADMIN:
        raise Forbidden("Only a tenant admin may delegate someone else's approvals.")
    Tenant.objects.select_for_update().get(pk=tenant_id)  # delegation writers of a tenant take turns
    now = timezone.now()
    starts_at = starts_at or now
    errors = {}
    roles = dict(Membership.objects.filter(tenant_id=tenant_id, user__in=[delegator, delegate],
                                           user__is_active=True).values_list("user_id", "role"))
    if roles.get(delegator.pk) not in Membership.DECIDING_ROLES:
        errors["delegator"] = [f"{delegator.get_username()} is not an approver of this tenant."]
    if delegate.pk == delegator.pk:
        errors["delegate"] = ["Delegate to someone else."]
    elif roles.get(delegate.pk) not in Membership.DECIDING_ROLES:
        errors["delegate"] = [f"{delegate.get_username()} is not an active approver or admin of this tenant."]
    if ends_at <= max(starts_at, now):
        errors["ends_at"] = ["The period must end after it starts, and in the future."]
    elif ends_at - starts_at > MAX_DELEGATION:
        errors["ends_at"] = ["A delegation lasts at most a year."]
    if errors:
        raise Invalid(details=errors)
    overlapping = Delegation.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True, starts_at__lt=ends_at,
                                            ends_at__gt=starts_at).select_related("delegator", "delegate")
    for other in overlapping.filter(Q(delegator__in=[delegator, delegate]) | Q(delegate=delegator)):
        period = f"{other.starts_at:%Y-%m-%d %H:%M} to {other.ends_at:%Y-%m-%d %H:%M} UTC"
        if other.delegator_id == delegator.pk:
            message = (f"{delegator.get_username()} has delegated to {other.delegate.get_username()} from {period} "
                       "already; revoke that first.")
        elif other.delegator_id == delegate.pk:
            message = (f"{delegate.get_username()} is away then (delegated to {other.delegate.get_username()}, "
                       f"{period}): delegation chains are refused; choose someone who is not away.")
        else:
            message = (f"{delegator.get_username()} stands in for {other.delegator.get_username()} then ({period}): "
                       "a delegate does not pass it on (delegation chains are refused).")
        raise Conflict(message)
    delegation = Delegation.objects.create(tenant_id=tenant_id, delegator=delegator, delegate=delegate,
                                           starts_at=starts_at, ends_at=ends_at, reason=reason.strip()[:500],
                                           created_by=actor)
    audit_record(tenant_id=tenant_id, actor=actor.get_username(), action="delegation.created",
                 object_type="delegation", object_id=delegation.pk, after=_delegation_snapshot(delegation),
                 correlation_id=correlation_id)
    if starts_at <= now:  # one that starts later reaches the delegate through the reminders and new escalations
        hooks.delegation_started(delegation)
    return delegation


@transaction.atomic
def delegation_revoke(*, membership: Membership, delegation_id, correlation_id: str = "") -> Delegation:
    """End a delegation now (or cancel one yet to start): its delegator, its delegate or a tenant admin."""
    actor = membership.user
    delegation = (Delegation.objects.select_for_update().filter(pk=delegation_id, tenant_id=membership.tenant_id)
                  .select_related("delegator", "delegate").first())
    if delegation is None or (membership.role != Membership.Role.ADMIN
                              and actor.pk not in (delegation.delegator_id, delegation.delegate_id)):
        raise NotFound("No such delegation.")
    now = timezone.now()
    if delegation.revoked_at is not None or delegation.ends_at <= now:
        raise Conflict("This delegation has ended already.")
    before = _delegation_snapshot(delegation)
    delegation.revoked_at = now
    delegation.save(update_fields=["revoked_at"])
    audit_record(tenant_id=membership.tenant_id, actor=actor.get_username(), action="delegation.revoked",
                 object_type="delegation", object_id=delegation.pk, before=before,
                 after=_delegation_snapshot(delegation), correlation_id=correlation_id)
    return delegation
