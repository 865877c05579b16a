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


def test_allow_below_allows_up_to_its_cost_and_leaves_the_rest_to_the_level():
    capped = policy(autonomy_level="restricted", rules={"demo.task": {"allow_below": 15}})
    allowed = decide(capped, facts(cost="15"), Decimal(0))
    assert allowed.outcome == "allow" and allowed.reasons == ["the policy allows demo.task tasks costing at most 15"]
    above = decide(capped, facts(cost="15.01"), Decimal(0))
    assert above.outcome == "escalate" and above.reasons == ["restricted: every task needs approval"]
    assert decide(capped, facts(risk="critical", cost="20"), Decimal(0)).outcome == "deny"
    assert decide({**capped, "autonomy_level": "autonomous"}, facts(cost="99"), Decimal(0)).outcome == "allow"


def test_allow_below_is_still_bound_by_the_hard_limit_and_the_budget():
    capped = policy(autonomy_level="supervised", rules={"demo.task": {"allow_below": 50}}, hard_cost_limit=30,
                    daily_budget=40)
    assert decide(capped, facts(cost="31"), Decimal(0)).outcome == "deny"
    over = decide(capped, facts(cost="20"), Decimal(30))
    assert over.outcome == "escalate" and "daily budget" in over.reasons[-1]


@pytest.mark.parametrize("rule, valid", [
    ("allow", True), ("escalate", True), ("deny", True), ({"allow_below": 0}, True), ({"allow_below": 12.5}, True),
    ("maybe", False), ({"allow_below": -1}, False), ({"allow_below": "5"}, False), ({"allow_below": True}, False),
    ({"allow_below": 5, "also": 1}, False), ({}, False), (["allow"], False),
])
def test_the_policy_document_schema_takes_the_same_rules_as_the_api(rule, valid):
    import jsonschema

    from governance.api import PolicyDocumentSerializer
    from governance.policy import POLICY_SCHEMA

    schema_errors = list(jsonschema.Draft202012Validator(POLICY_SCHEMA).iter_errors({"rules": {"demo.task": rule}}))
    assert (not schema_errors) is valid
    assert PolicyDocumentSerializer(data={"rules": {"demo.task": rule}}).is_valid() is valid


@pytest.mark.parametrize("value, valid", [(2, True), (1000, True), (20, True), (1, False), (1001, False)])
def test_suggest_after_is_between_2_and_1000(value, valid):
    import jsonschema

    from governance.policy import POLICY_SCHEMA

    assert jsonschema.Draft202012Validator(POLICY_SCHEMA).is_valid({"suggest_after": value}) is valid
    assert default_policy()["suggest_after"] == 20
