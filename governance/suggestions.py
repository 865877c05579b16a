"""Autonomy suggestions: rules the approval record argues for, each with its evidence and its simulation.

A task type (or an agent tool, `tool:<name>`) whose last N decided escalation chains people all approved as
asked, at least two different people, may run without review up to the highest cost among them
({"allow_below": cost}); one people rejected more than half of the time is better denied. N is the policy's
`suggest_after`. Only types the policy gate decides count (those in the decision records; drafting's reviews,
say, are not). Nothing changes by itself: a tenant admin accepts a suggestion, which saves a policy version."""

from decimal import Decimal

from django.db import transaction

from core.models import ConfigVersion, Tenant
from core.errors import Conflict, Invalid
from governance import services
from governance.models import DecisionRecord, Escalation
from governance.policy import ALLOW, ALLOW_BELOW, DENY, SUGGEST_AFTER
from governance.selectors import policy_current
from governance.simulation import LAST_DEFAULT, simulate

# A chain's last row, once someone (or the deadline) decided it; withdrawn and escalated rows are not decisions.
DECIDED = (Escalation.Status.APPROVED, Escalation.Status.REJECTED, Escalation.Status.EXPIRED,
           Escalation.Status.REPLIED)


def rule_text(rule) -> str:
    return f"allow below {rule[ALLOW_BELOW]}" if isinstance(rule, dict) else str(rule)


def _approved_as_asked(escalation: Escalation) -> bool:
    return (escalation.status == Escalation.Status.APPROVED and escalation.decided_by_id is not None
            and escalation.decision_arguments is None)


def _already_says(current, rule) -> bool:
    """Whether the policy's rule for the type already allows (at least up to the proposed cost) or denies."""
    if rule == DENY:
        return current == DENY
    return current == ALLOW or (isinstance(current, dict) and current[ALLOW_BELOW] >= rule[ALLOW_BELOW])


def _rejected_by_people(chain_ends: list[Escalation]) -> int:
    return sum(e.status == Escalation.Status.REJECTED and e.decided_by_id is not None for e in chain_ends)


def _proposal(task_type: str, chain_ends: list[Escalation], needed: int):
    """The rule the last `needed` decided chains of a type argue for, or None."""
    if len(chain_ends) < needed:
        return None
    approvers = {e.decided_by_id for e in chain_ends}
    if all(map(_approved_as_asked, chain_ends)) and len(approvers) >= 2:
        return {ALLOW_BELOW: float(max(e.estimated_cost for e in chain_ends))}
    if _rejected_by_people(chain_ends) * 2 > len(chain_ends):
        return DENY
    return None


def suggestions_for(*, tenant_id: int, simulate_last: int | None = LAST_DEFAULT) -> list[dict]:
    """The tenant's current suggestions, by task type, each with its evidence, the proposed policy and what
    that policy would have changed over the last `simulate_last` decisions (None: not simulated)."""
    policy, _ = policy_current(tenant_id=tenant_id)
    needed = int(policy.get("suggest_after") or SUGGEST_AFTER)
    decided_types = (DecisionRecord.objects.filter(tenant_id=tenant_id).order_by().values_list("task_type", flat=True)
                     .distinct())
    suggestions = []
    for task_type in sorted(decided_types):
        chain_ends = list(Escalation.objects.filter(tenant_id=tenant_id, task_type=task_type, status__in=DECIDED)
                          .select_related("decided_by").order_by("-decided_at", "-created_at")[:needed])
        rule = _proposal(task_type, chain_ends, needed)
        if rule is None or _already_says(policy.get("rules", {}).get(task_type), rule):
            continue
        proposed = {**policy, "rules": {**policy.get("rules", {}), task_type: rule}}
        suggestions.append({
            "task_type": task_type, "rule": rule, "summary": f"{task_type}: {rule_text(rule)}",
            "evidence": {
                "count": len(chain_ends),
                "approvers": sorted({e.decided_by.get_username() for e in chain_ends if e.decided_by_id}),
                "share_rejected": _rejected_by_people(chain_ends) / len(chain_ends),
                "decisions": [{"escalation_id": e.pk, "task_id": e.task_id, "step": e.step, "status": e.status,
                               "decided_by": e.decided_by.get_username() if e.decided_by_id else None,
                               "decided_at": e.decided_at, "estimated_cost": e.estimated_cost}
                              for e in chain_ends]},
            "policy": proposed,
            "simulation": simulate(tenant_id=tenant_id, policy=proposed, last=simulate_last)
            if simulate_last else None})
    return suggestions


@transaction.atomic
def suggestion_accept(*, tenant_id: int, user, task_type: str, rule, correlation_id: str = "") -> ConfigVersion:
    """Put a suggested rule in force as a new policy version (policy_update, audited as every policy change).
    The suggestion is worked out again first: one that no longer stands (accepted already, or the record
    changed) is a Conflict, and nothing is saved."""
    Tenant.objects.select_for_update().get(pk=tenant_id)  # two admins accepting at once: the second sees the first
    if isinstance(rule, dict):
        cost = rule.get(ALLOW_BELOW)
        if set(rule) != {ALLOW_BELOW} or not isinstance(cost, int | float | Decimal) or isinstance(cost, bool):
            raise Invalid.field("rule", 'Expected "deny" or {"allow_below": <a cost>}.')
        rule = {ALLOW_BELOW: float(cost)}
    standing = next((s for s in suggestions_for(tenant_id=tenant_id, simulate_last=None)
                     if s["task_type"] == task_type and s["rule"] == rule), None)
    if standing is None:
        raise Conflict(f"There is no suggestion to {rule_text(rule)} for {task_type!r} now: it was accepted "
                       "already, or the approval record no longer argues for it.")
    rules = {**policy_current(tenant_id=tenant_id)[0].get("rules", {}), task_type: rule}
    return services.policy_update(tenant_id=tenant_id, user=user, document={"rules": rules},
                                  note=f"accepted autonomy suggestion: {standing['summary']}",
                                  correlation_id=correlation_id)
