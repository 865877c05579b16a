"""Policy simulation: what a proposed policy would have decided on the tenant's recent decisions.

Read-only. It replays the decision records (governance.models.DecisionRecord) through governance.policy.decide,
the live gate's own function, with the facts each decision saw, so an unchanged policy replays to no change."""

from collections import defaultdict
from decimal import Decimal

from governance.models import DecisionRecord
from governance.policy import ALLOW, DENY, ESCALATE, TaskFacts, decide

EXAMPLES_PER_TRANSITION = 5
LAST_DEFAULT, LAST_MAX = 1000, 10_000


def records_recent(*, tenant_id: int, last: int) -> list[DecisionRecord]:
    """The tenant's last `last` decisions, oldest first (the order they were made in)."""
    recent = DecisionRecord.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id")[:last]
    return list(recent)[::-1]


def facts_of(record: DecisionRecord) -> TaskFacts:
    return TaskFacts(task_type=record.task_type, risk=record.risk, external_side_effects=record.external_side_effects,
                     estimated_cost=record.estimated_cost)


def transition(recorded: str, simulated: str) -> str:
    return f"{recorded}→{simulated}"


def _committed(record: DecisionRecord, drift: dict, uncounted: dict) -> Decimal:
    day = record.created_at.date()
    return uncounted[day] if record.committed_before is None else record.committed_before + drift[day]


def simulate(*, tenant_id: int, policy: dict, last: int = LAST_DEFAULT) -> dict:
    """Replay the tenant's last `last` decisions (oldest first) under `policy`.

    Budget: a decision sees the day's committed cost it recorded, plus, for the same UTC day, what the
    proposal would have allowed so far minus what was allowed (so an unchanged policy sees exactly what
    was recorded). Cost approved later by people is in the recorded figure, as it was. A decision made with
    no daily budget counted nothing: it sees what the proposal allowed so far that day, in this replay (an
    estimate from below: it leaves out what people approved and what came before the replayed window)."""
    records = records_recent(tenant_id=tenant_id, last=last)
    drift: dict = defaultdict(Decimal)  # UTC day -> cost allowed under the proposal minus cost allowed
    uncounted: dict = defaultdict(Decimal)  # UTC day -> cost the proposal allowed where no budget was counted
    transitions: dict[str, int] = defaultdict(int)
    examples: dict[str, list] = defaultdict(list)
    cost_without_review, escalations_avoided = Decimal(0), 0
    for record in records:
        day = record.created_at.date()
        cost = record.estimated_cost
        decision = decide(policy, facts_of(record), _committed(record, drift, uncounted))
        allowed = cost if decision.outcome == ALLOW else Decimal(0)
        if record.committed_before is None:
            uncounted[day] += allowed
        else:
            drift[day] += allowed - (cost if record.outcome == ALLOW else 0)
        if decision.outcome == record.outcome:
            continue
        name = transition(record.outcome, decision.outcome)
        transitions[name] += 1
        if decision.outcome == ALLOW and record.outcome in (ESCALATE, DENY):
            cost_without_review += cost
        if record.outcome == ESCALATE:
            escalations_avoided += decision.outcome != ESCALATE
        if len(examples[name]) < EXAMPLES_PER_TRANSITION:
            examples[name].append({
                "subject": record.subject, "task_id": record.task_id, "step": record.step,
                "task_type": record.task_type, "estimated_cost": cost, "created_at": record.created_at,
                "policy_version": record.policy_version,
                "recorded": {"outcome": record.outcome, "reasons": record.reasons},
                "simulated": {"outcome": decision.outcome, "reasons": decision.reasons}})
    return {"replayed": len(records), "changed": sum(transitions.values()),
            "since": records[0].created_at if records else None, "until": records[-1].created_at if records else None,
            "transitions": dict(sorted(transitions.items())), "cost_without_review": cost_without_review,
            "escalations_avoided": escalations_avoided, "examples": dict(sorted(examples.items()))}
