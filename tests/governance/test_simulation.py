"""Decision records and policy simulation: every decision of the live gate is recorded with the facts it saw,
and replaying the records through governance.policy.decide gives back what was decided; a changed policy
gives the changes it would have made, and nothing else."""

from decimal import Decimal

import pytest
from django.db import transaction

from governance import services as governance
from governance.models import DecisionRecord
from governance.policy import TaskFacts, decide
from governance.simulation import facts_of, simulate

pytestmark = pytest.mark.django_db

SIMULATE = "/api/governance/policy/simulate"


def current_policy(team) -> tuple[int, dict]:
    answer = team.admin_api.get("/api/governance/policy").json()
    return answer["version"], answer["policy"]


def tool_call_decided(team, tool="http_get", cost="1", risk="low", external=True, step=1):
    """An agent's tool call, decided by the live gate as emma.agent does (the run's id is made up)."""
    import uuid

    facts = TaskFacts(task_type=f"tool:{tool}", risk=risk, external_side_effects=external,
                      estimated_cost=Decimal(cost))
    with transaction.atomic():
        decision, _, _ = governance.decision_make(tenant_id=team.tenant_id, facts=facts, task_id=uuid.uuid4(),
                                                  step=step)
    return decision


def decided(team, task_type, cost, count, risk="low"):
    """`count` decisions on tasks of a type (any name: governance decides on facts), as a batch would be."""
    facts = [TaskFacts(task_type=task_type, risk=risk, external_side_effects=False, estimated_cost=Decimal(cost))
             for _ in range(count)]
    with transaction.atomic():
        decisions, _, _ = governance.decisions_make(tenant_id=team.tenant_id, facts=facts)
    return decisions


def test_every_decision_is_recorded_with_its_subject_and_the_facts_it_saw(acme):
    acme.set_policy(autonomy_level="supervised", cost_threshold=10, daily_budget=100)
    allowed = acme.submit(description="cheap", estimated_cost="4", parameters={"text": "a"})
    escalated = acme.submit(description="dear", estimated_cost="40", parameters={"text": "b"})
    tool_call_decided(acme, step=3)

    task_record, escalated_record, tool_record = DecisionRecord.objects.filter(
        tenant_id=acme.tenant_id).order_by("created_at", "id")
    assert (task_record.subject, str(task_record.task_id), task_record.step) == ("task", allowed["task_id"], None)
    assert (task_record.outcome, task_record.estimated_cost, task_record.committed_before) == (
        "allow", Decimal("4"), Decimal("0"))
    assert escalated_record.outcome == "escalate" and escalated_record.committed_before == Decimal("4")
    assert str(escalated_record.task_id) == escalated["task_id"]
    assert (tool_record.subject, tool_record.task_type, tool_record.step) == ("tool_call", "tool:http_get", 3)
    assert tool_record.external_side_effects and tool_record.outcome == "escalate"
    assert tool_record.reasons == ["supervised: the task has external side effects"]


def test_replaying_each_record_under_its_own_version_gives_what_was_decided(acme):
    policies = {}
    version, policy = current_policy(acme)
    policies[version] = policy
    for document, costs in [
        ({"autonomy_level": "supervised", "cost_threshold": 10, "daily_budget": 60}, ["5", "20", "9", "30", "8"]),
        ({"rules": {"diagnostic.echo": "allow"}, "daily_budget": 80}, ["25", "30", "40", "2"]),
        ({"rules": {"diagnostic.echo": {"allow_below": 15}}, "over_budget": "deny"}, ["14", "16", "1", "70"]),
        ({"daily_budget": None, "autonomy_level": "semi_autonomous"}, ["3", "12"]),
    ]:
        acme.set_policy(**document)
        version, policy = current_policy(acme)
        policies[version] = policy
        for cost in costs:
            answer = acme.submit(description=f"cost {cost}", estimated_cost=cost, parameters={"text": cost})
            if answer.get("escalation_id") and cost == "20":  # an approval counts against the day's budget too
                governance.escalation_approve(escalation_id=answer["escalation_id"], user=acme.approver,
                                              reason="fine")
        tool_call_decided(acme, cost="2", external=False)
        tool_call_decided(acme, cost="11", external=False)

    records = list(DecisionRecord.objects.filter(tenant_id=acme.tenant_id).order_by("created_at", "id"))
    assert len(records) == 15 + 8
    assert {record.outcome for record in records} == {"allow", "escalate", "deny"}
    assert any((record.committed_before or 0) > 0 for record in records)
    assert any(record.committed_before is None for record in records)  # the version without a budget
    for record in records:
        replayed = decide(policies[record.policy_version], facts_of(record), record.committed_before or Decimal(0))
        # The same outcome for the same reasons (their text may write a cost with more decimals: 11.0000).
        assert (replayed.outcome, len(replayed.reasons)) == (record.outcome, len(record.reasons)), record.task_type


def test_simulating_the_policy_in_force_over_its_own_history_changes_nothing(acme):
    acme.set_policy(autonomy_level="supervised", cost_threshold=10, daily_budget=50)
    for cost in ["5", "20", "9", "12", "30", "8", "6", "1"]:
        answer = acme.submit(description=f"cost {cost}", estimated_cost=cost, parameters={"text": cost})
        if answer.get("escalation_id") and cost == "12":
            governance.escalation_approve(escalation_id=answer["escalation_id"], user=acme.approver, reason="ok")
    tool_call_decided(acme, cost="3")
    decided(acme, "report.build", "4", 5)

    response = acme.approver_api.post(SIMULATE, {"policy": {}}, format="json")

    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["replayed"], result["changed"], result["transitions"]) == (14, 0, {})
    assert result["examples"] == {} and Decimal(result["cost_without_review"]) == 0


def test_a_rule_allowing_one_type_changes_exactly_its_escalations(acme):
    acme.set_policy(autonomy_level="supervised", cost_threshold=10)
    decided(acme, "report.quarterly", "12", 6)  # over the threshold: escalated
    decided(acme, "report.daily", "1", 18)  # allowed
    decided(acme, "report.quarterly", "20", 6)
    _, policy = current_policy(acme)

    everything = simulate(tenant_id=acme.tenant_id, policy={**policy, "rules": {"report.quarterly": "allow"}})
    assert (everything["replayed"], everything["changed"]) == (30, 12)
    assert everything["transitions"] == {"escalate→allow": 12}
    assert everything["cost_without_review"] == Decimal("192")
    assert everything["escalations_avoided"] == 12
    examples = everything["examples"]["escalate→allow"]
    assert len(examples) == 5 and {e["task_type"] for e in examples} == {"report.quarterly"}
    assert examples[0]["recorded"]["outcome"] == "escalate"
    assert examples[0]["simulated"]["reasons"] == ["the policy allows report.quarterly tasks"]

    below = simulate(tenant_id=acme.tenant_id,
                     policy={**policy, "rules": {"report.quarterly": {"allow_below": 15}}}, last=30)
    assert below["transitions"] == {"escalate→allow": 6} and below["cost_without_review"] == Decimal("72")

    denied = simulate(tenant_id=acme.tenant_id, policy={**policy, "rules": {"report.daily": "deny"}}, last=10)
    assert denied["replayed"] == 10 and denied["transitions"] == {"allow→deny": 4}, "the last 10: 6 escalated, 4 not"
    assert denied["escalations_avoided"] == 0


def test_a_smaller_budget_counts_what_the_proposal_would_have_allowed_that_day(acme):
    acme.set_policy(autonomy_level="autonomous", daily_budget=1000)
    decided(acme, "report.daily", "10", 5)  # all allowed: they saw 0, 10, 20, 30 and 40 committed
    _, policy = current_policy(acme)

    result = simulate(tenant_id=acme.tenant_id, policy={**policy, "daily_budget": 25})

    # 10 and 20 fit in 25; each later one sees 20 (what was recorded, less what the proposal held back).
    assert result["transitions"] == {"allow→escalate": 3}
    assert [e["simulated"]["reasons"][-1] for e in result["examples"]["allow→escalate"]] == [
        "today's accepted cost 20.0000 plus 10.0000 exceeds the daily budget of 25"] * 3
    assert "daily budget" in result["examples"]["allow→escalate"][0]["simulated"]["reasons"][-1]


def test_a_budget_where_there_was_none_counts_what_the_proposal_allows_in_the_replay(acme):
    acme.set_policy(autonomy_level="autonomous", daily_budget=None)
    decided(acme, "report.daily", "30", 5)  # all allowed, nothing counted
    assert set(DecisionRecord.objects.values_list("committed_before", flat=True)) == {None}
    _, policy = current_policy(acme)

    result = simulate(tenant_id=acme.tenant_id, policy={**policy, "daily_budget": 100})

    # 30, 60 and 90 fit in 100; the fourth and fifth would have seen 90.
    assert result["transitions"] == {"allow→escalate": 2}
    assert simulate(tenant_id=acme.tenant_id, policy=policy)["changed"] == 0


def test_the_api_answers_approvers_and_admins_with_their_own_tenants_decisions(acme, globex):
    decided(acme, "report.quarterly", "12", 3)
    proposal = {"policy": {"rules": {"report.quarterly": {"allow_below": 100}}}, "last": 2}

    admin = acme.admin_api.post(SIMULATE, proposal, format="json")
    assert admin.status_code == 200 and admin.json()["transitions"] == {"escalate→allow": 2}
    assert acme.submitter_api.post(SIMULATE, proposal, format="json").status_code == 403
    theirs = globex.admin_api.post(SIMULATE, proposal, format="json")
    assert theirs.status_code == 200 and theirs.json()["replayed"] == 0
    assert not DecisionRecord.objects.filter(tenant_id=globex.tenant_id).exists(), "simulating records nothing"


@pytest.mark.parametrize("body, field", [
    ({}, "policy"),
    ({"policy": {"rules": {"x": "maybe"}}}, "policy.rules"),
    ({"policy": {"rules": {"x": {"allow_below": -1}}}}, "policy.rules"),
    ({"policy": {"rules": {"x": {"allow_below": 5, "and": 1}}}}, "policy.rules"),
    ({"policy": {"autonomy_level": "reckless"}}, "policy.autonomy_level"),
    ({"policy": {"suggest_after": 1}}, "policy.suggest_after"),
    ({"policy": {}, "last": 0}, "last"),
    ({"policy": {}, "last": 10_001}, "last"),
    ({"policy": {}, "extra": 1}, "extra"),
    ({"policy": []}, "policy"),
])
def test_a_bad_proposal_is_a_400_naming_the_field(acme, body, field):
    response = acme.admin_api.post(SIMULATE, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    details = error["details"]
    for part in field.split("."):
        assert part in details, error["details"]
        details = details[part]
