"""Policies and the decision: a pure function of (policy, task facts, today's usage).

Nothing here touches the database, so every rule can be read and tested on its own."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

AUTONOMY_LEVELS = ("restricted", "supervised", "semi_autonomous", "autonomous")
RISK_LEVELS = ("low", "medium", "high", "critical")
RULES = ("allow", "escalate", "deny")
ALLOW, ESCALATE, DENY = RULES
MAX_QUORUM = 10  # approvals (or rejections) a ladder tier may require
ALLOW_BELOW = "allow_below"  # a rule {"allow_below": cost}: allowed up to that cost, else the level decides
MAX_COST = 1e15  # the largest allow_below a rule may name
SUGGEST_AFTER = 20  # unchanged human decisions in a row before governance.suggestions proposes a rule


def default_policy() -> dict:
    """The policy of a tenant that has never set one."""
    return {
        "autonomy_level": settings.AUTONOMY_LEVEL,
        "rules": {},
        "cost_threshold": 10.0,
        "hard_cost_limit": None,
        "daily_budget": None,
        "over_budget": ESCALATE,
        "allow_self_approval": False,
        "ladder": [{"group": "", "timeout_seconds": settings.ESCALATION_TIMEOUT_SECONDS}],
        "final_outcome": "reject",
        "reminder_fraction": 0.75,  # of a tier's time, when approvers who have not answered are reminded
        "http_allowed_hosts": [],  # the hosts agents' http_get may read
        "suggest_after": SUGGEST_AFTER,
    }


@dataclass(frozen=True)
class TaskFacts:
    """What governance decides on: the task as submitted, never the task row."""

    task_type: str
    risk: str
    external_side_effects: bool
    estimated_cost: Decimal


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: list[str] = field(default_factory=list)


def _at_least(risk: str, floor: str) -> bool:
    return RISK_LEVELS.index(risk) >= RISK_LEVELS.index(floor)


def decide(policy: dict, task: TaskFacts, committed_today: Decimal) -> Decision:
    """allow, escalate or deny, with the reasons a person can read.

    Order: a hard cost limit denies; an explicit per-type rule wins over the autonomy level's default (a rule
    {"allow_below": cost} only up to that cost: above it the level decides);
    the cost threshold escalates below `autonomous`; the daily budget escalates or denies last."""
    cost = Decimal(str(task.estimated_cost))
    hard_limit = policy.get("hard_cost_limit")
    if hard_limit is not None and cost > Decimal(str(hard_limit)):
        return Decision(DENY, [f"estimated cost {cost} exceeds the hard limit of {hard_limit}"])

    level = policy["autonomy_level"]
    rule = policy.get("rules", {}).get(task.task_type)
    reasons: list[str] = []
    if rule == DENY:
        return Decision(DENY, [f"the policy denies {task.task_type} tasks"])
    if rule == ESCALATE:
        outcome = ESCALATE
        reasons.append(f"the policy requires approval for {task.task_type} tasks")
    elif rule == ALLOW:
        outcome = ALLOW
        reasons.append(f"the policy allows {task.task_type} tasks")
    elif isinstance(rule, dict) and cost <= Decimal(str(rule[ALLOW_BELOW])):
        outcome = ALLOW
        reasons.append(f"the policy allows {task.task_type} tasks costing at most {rule[ALLOW_BELOW]}")
    else:  # no rule, or a cost above the rule's allow_below: the autonomy level's default
        outcome, reasons = _level_default(level, task, cost, Decimal(str(policy.get("cost_threshold") or 0)))

    budget = policy.get("daily_budget")
    if budget is not None and committed_today + cost > Decimal(str(budget)):
        over = (f"today's accepted cost {committed_today} plus {cost} exceeds the daily budget of {budget}")
        if policy.get("over_budget", ESCALATE) == DENY:
            return Decision(DENY, reasons + [over])
        if outcome == ALLOW:
            return Decision(ESCALATE, reasons + [over])
        reasons.append(over)
    return Decision(outcome, reasons)


def _level_default(level: str, task: TaskFacts, cost: Decimal, threshold: Decimal) -> tuple[str, list[str]]:
    if level == "autonomous":
        return ALLOW, ["autonomous: runs within budget and hard limits"]
    if level == "restricted":
        if task.risk == "critical":
            return DENY, ["restricted: critical-risk tasks are denied"]
        return ESCALATE, ["restricted: every task needs approval"]
    reasons = []
    if level == "supervised":
        if _at_least(task.risk, "medium"):
            reasons.append(f"supervised: {task.risk} risk needs approval")
        if task.external_side_effects:
            reasons.append("supervised: the task has external side effects")
    else:  # semi_autonomous
        if _at_least(task.risk, "high"):
            reasons.append(f"semi_autonomous: {task.risk} risk needs approval")
    if cost > threshold:
        reasons.append(f"estimated cost {cost} is over the threshold of {threshold}")
    if reasons:
        return ESCALATE, reasons
    return ALLOW, [f"{level}: {task.risk} risk within the cost threshold runs without approval"]


# The policy as a configuration document (core.configuration): what PUT /api/governance/policy and
# PUT /api/config/policy accept, the same rules as governance.api.PolicyDocumentSerializer.
POLICY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "autonomy_level": {"enum": list(AUTONOMY_LEVELS)},
        "rules": {"type": "object", "additionalProperties": {"oneOf": [
            {"enum": list(RULES)},
            {"type": "object", "additionalProperties": False, "required": [ALLOW_BELOW],
             "properties": {ALLOW_BELOW: {"type": "number", "minimum": 0, "maximum": MAX_COST}}}]}},
        "cost_threshold": {"type": "number", "minimum": 0},
        "hard_cost_limit": {"type": ["number", "null"], "minimum": 0},
        "daily_budget": {"type": ["number", "null"], "minimum": 0},
        "over_budget": {"enum": [ESCALATE, DENY]},
        "allow_self_approval": {"type": "boolean"},
        "ladder": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["timeout_seconds"],
            "properties": {"group": {"type": "string", "maxLength": 150},
                           "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 30 * 24 * 3600},
                           "quorum": {"type": "integer", "minimum": 1, "maximum": MAX_QUORUM},
                           "reject_quorum": {"type": "integer", "minimum": 1, "maximum": MAX_QUORUM}}}},
        "final_outcome": {"enum": ["reject", "approve"]},
        "reminder_fraction": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "http_allowed_hosts": {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 253}},
        "suggest_after": {"type": "integer", "minimum": 2, "maximum": 1000},
    },
}
