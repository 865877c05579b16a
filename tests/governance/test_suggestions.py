"""Autonomy suggestions: a rule is suggested once the last N decided escalations of a type argue for it (all
approved as asked by at least two people: allow below their highest cost; mostly rejected: deny), with its
evidence and simulation; nothing changes until a tenant admin accepts it, which saves a policy version."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from core.models import ConfigVersion
from governance import services as governance
from governance.models import AuditEvent, Escalation
from governance.policy import TaskFacts

pytestmark = pytest.mark.django_db

SUGGESTIONS, ACCEPT = "/api/governance/suggestions", "/api/governance/suggestions/accept"
N = 3


@pytest.fixture
def team(acme):
    acme.set_policy(autonomy_level="supervised", cost_threshold=10, suggest_after=N)
    acme.second_approver = acme.admin  # an admin decides too: two different people
    return acme


def tool_call_escalated(team, tool="crm_update", cost="25", step=1) -> Escalation:
    """An agent's tool call the live gate escalates (over the cost threshold), opened as emma.agent opens it."""
    facts = TaskFacts(task_type=f"tool:{tool}", risk="low", external_side_effects=False, estimated_cost=Decimal(cost))
    run_id = uuid.uuid4()
    with transaction.atomic():
        decision, policy, version = governance.decision_make(tenant_id=team.tenant_id, facts=facts, task_id=run_id,
                                                             step=step)
        assert decision.outcome == "escalate"
        return governance.escalation_open(
            tenant_id=team.tenant_id, task_id=run_id, facts=facts, summary="update the CRM", parameters={"id": 1},
            requester=team.submitter, reasons=decision.reasons, policy=policy, policy_version=version, step=step,
            tool=tool, arguments_schema={"type": "object"})


def approved(team, by, cost="25", **answer) -> Escalation:
    escalation = tool_call_escalated(team, cost=cost)
    return governance.escalation_approve(escalation_id=escalation.pk, user=by, reason="fine", **answer)


def rejected(team, by) -> Escalation:
    return governance.escalation_reject(escalation_id=tool_call_escalated(team).pk, user=by, reason="no")


def listed(team) -> list[dict]:
    response = team.approver_api.get(SUGGESTIONS)
    assert response.status_code == 200, response.content
    return response.json()


def test_allowing_below_the_highest_cost_is_suggested_after_the_nth_unchanged_approval_by_two_people(team):
    approved(team, team.approver, cost="25")
    approved(team, team.second_approver, cost="40")
    assert listed(team) == [], "N-1 approvals are not enough"

    approved(team, team.approver, cost="30")

    [suggestion] = listed(team)
    assert (suggestion["task_type"], suggestion["rule"]) == ("tool:crm_update", {"allow_below": 40.0})
    evidence = suggestion["evidence"]
    assert evidence["count"] == N and evidence["share_rejected"] == 0
    assert evidence["approvers"] == sorted([team.approver.username, team.admin.username])
    assert [Decimal(d["estimated_cost"]) for d in evidence["decisions"]] == [30, 40, 25], "newest first"
    assert suggestion["policy"]["rules"] == {"tool:crm_update": {"allow_below": 40.0}}
    assert suggestion["policy"]["autonomy_level"] == "supervised"
    simulation = suggestion["simulation"]
    assert simulation["transitions"] == {"escalate→allow": 3} and Decimal(simulation["cost_without_review"]) == 95


def test_one_approval_with_edited_arguments_among_the_last_n_means_no_suggestion(team):
    approved(team, team.approver)
    approved(team, team.second_approver, arguments={"id": 2})
    approved(team, team.approver)

    assert listed(team) == []


def test_approvals_by_one_person_only_are_no_suggestion(team):
    for _ in range(N + 1):
        approved(team, team.approver)

    assert listed(team) == []


def test_a_type_rejected_most_of_the_time_is_suggested_for_denial(team):
    rejected(team, team.approver)
    approved(team, team.second_approver)
    assert listed(team) == [], "fewer than N decided"
    rejected(team, team.second_approver)

    [suggestion] = listed(team)
    assert suggestion["rule"] == "deny"
    assert suggestion["evidence"]["share_rejected"] == pytest.approx(2 / 3)
    assert suggestion["simulation"]["transitions"] == {"escalate→deny": 3}


def test_what_the_policy_already_says_is_not_suggested(team):
    for by in (team.approver, team.second_approver, team.approver):
        approved(team, by, cost="25")
    team.set_policy(rules={"tool:crm_update": {"allow_below": 25}})

    assert listed(team) == []


def test_types_the_policy_gate_does_not_decide_are_left_out(team, submit_escalated):
    """drafting's reviews open escalations of their own type, never decided by the policy gate."""
    for by in (team.approver, team.second_approver, team.approver):
        escalation = tool_call_escalated(team)
        Escalation.objects.filter(pk=escalation.pk).update(task_type="drafting.review")
        governance.escalation_approve(escalation_id=escalation.pk, user=by, reason="fine")

    assert [s["task_type"] for s in listed(team)] == []


def test_accepting_saves_a_policy_version_once(team):
    for by in (team.approver, team.second_approver, team.approver):
        approved(team, by, cost="12.5")
    versions = ConfigVersion.objects.filter(tenant_id=team.tenant_id, document="policy").count()
    body = {"task_type": "tool:crm_update", "rule": {"allow_below": 12.5}}

    response = team.admin_api.post(ACCEPT, body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["policy"]["rules"] == {"tool:crm_update": {"allow_below": 12.5}}
    latest = ConfigVersion.objects.filter(tenant_id=team.tenant_id, document="policy").order_by("-version").first()
    assert latest.version == versions + 1 and latest.author == team.admin
    assert latest.reason == "accepted autonomy suggestion: tool:crm_update: allow below 12.5"
    assert AuditEvent.objects.filter(tenant_id=team.tenant_id, action="policy.updated",
                                     object_id=str(latest.version)).exists()
    assert listed(team) == []
    again = team.admin_api.post(ACCEPT, body, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_accepting_a_rule_that_is_not_the_suggestion_is_a_409(team):
    for by in (team.approver, team.second_approver, team.approver):
        approved(team, by, cost="12.5")

    for body in ({"task_type": "tool:crm_update", "rule": {"allow_below": 100}},
                 {"task_type": "tool:crm_update", "rule": "allow"},
                 {"task_type": "tool:other", "rule": {"allow_below": 12.5}}):
        assert team.admin_api.post(ACCEPT, body, format="json").status_code == 409, body
    assert team.admin_api.get("/api/governance/policy").json()["policy"]["rules"] == {}


def test_only_admins_accept_and_submitters_see_none(team):
    for by in (team.approver, team.second_approver, team.approver):
        approved(team, by)
    body = {"task_type": "tool:crm_update", "rule": {"allow_below": 25}}

    assert team.submitter_api.get(SUGGESTIONS).status_code == 403
    assert team.submitter_api.post(ACCEPT, body, format="json").status_code == 403
    assert team.approver_api.post(ACCEPT, body, format="json").status_code == 403
    assert team.admin_api.get(SUGGESTIONS).status_code == 200


def test_a_tenant_sees_and_accepts_only_its_own_suggestions(team, globex):
    for by in (team.approver, team.second_approver, team.approver):
        approved(team, by)
    body = {"task_type": "tool:crm_update", "rule": {"allow_below": 25}}

    assert globex.approver_api.get(SUGGESTIONS).json() == []
    assert globex.admin_api.post(ACCEPT, body, format="json").status_code == 409
    assert globex.admin_api.get("/api/governance/policy").json()["policy"]["rules"] == {}
    assert len(listed(team)) == 1


@pytest.mark.parametrize("body, field", [
    ({"rule": "deny"}, "task_type"),
    ({"task_type": "x"}, "rule"),
    ({"task_type": "x", "rule": "maybe"}, "rule"),
    ({"task_type": "x", "rule": {"allow_below": "9"}}, "rule"),
    ({"task_type": "x" * 101, "rule": "deny"}, "task_type"),
    ({"task_type": "x", "rule": "deny", "more": 1}, "more"),
])
def test_a_bad_acceptance_is_a_400_naming_the_field(team, body, field):
    response = team.admin_api.post(ACCEPT, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
