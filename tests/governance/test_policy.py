"""The decision as a pure function: every autonomy level, rules, thresholds and budgets."""

from decimal import Decimal

import pytest

from governance.policy import TaskFacts, decide, default_policy


def facts(risk="low", external=False, cost="1", task_type="demo.task"):
    return TaskFacts(task_type=task_type, risk=risk, external_side_effects=external, estimated_cost=Decimal(cost))


def policy(**changes):
    return {**default_policy(), **changes}


@pytest.mark.parametrize("level, risk, external, cost, expected", [
    ("restricted", "low", False, "1", "escalate"),
    ("restricted", "high", False, "1", "escalate"),
    ("restricted", "critical", False, "1", "deny"),
    ("supervised", "low", False, "1", "allow"),
    ("supervised", "medium", False, "1", "escalate"),
    ("supervised", "low", True, "1", "escalate"),
    ("supervised", "low", False, "11", "escalate"),
    ("semi_autonomous", "medium", True, "1", "allow"),
    ("semi_autonomous", "high", False, "1", "escalate"),
    ("semi_autonomous", "low", False, "11", "escalate"),
    ("autonomous", "critical", True, "1000", "allow"),
])
def test_each_autonomy_level_has_its_default(level, risk, external, cost, expected):
    decision = decide(policy(autonomy_level=level), facts(risk, external, cost), Decimal("0"))
    assert decision.outcome == expected
    assert decision.reasons and all(isinstance(reason, str) for reason in decision.reasons)


def test_explicit_rules_win_over_the_level():
    assert decide(policy(autonomy_level="autonomous", rules={"demo.task": "deny"}), facts(), Decimal(0)).outcome == "deny"
    assert decide(policy(autonomy_level="autonomous", rules={"demo.task": "escalate"}), facts(),
                  Decimal(0)).outcome == "escalate"
    allowed = decide(policy(autonomy_level="restricted", rules={"demo.task": "allow"}), facts(risk="critical"),
                     Decimal(0))
    assert allowed.outcome == "allow"
    assert "allows demo.task" in allowed.reasons[0]


def test_hard_cost_limit_denies_even_when_autonomous():
    decision = decide(policy(autonomy_level="autonomous", hard_cost_limit=100), facts(cost="101"), Decimal(0))
    assert decision.outcome == "deny" and "hard limit" in decision.reasons[0]


def test_over_budget_escalates_or_denies_as_configured():
    over = policy(autonomy_level="autonomous", daily_budget=10)
    assert decide(over, facts(cost="3"), Decimal("7")).outcome == "allow"
    escalated = decide(over, facts(cost="3"), Decimal("8"))
    assert escalated.outcome == "escalate" and "daily budget" in escalated.reasons[-1]
    assert decide({**over, "over_budget": "deny"}, facts(cost="3"), Decimal("8")).outcome == "deny"
