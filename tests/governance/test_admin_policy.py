"""The admin's policy screen: the policy in force, the simulation of an edited one (nothing saved), saving a
version and accepting a suggestion (tenant admins only, through the same services as the API)."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from core.models import ConfigVersion
from governance import services as governance
from governance.policy import TaskFacts

pytestmark = pytest.mark.django_db


def screen() -> str:
    return reverse("admin:governance_policy")


def versions(team) -> int:
    return ConfigVersion.objects.filter(tenant_id=team.tenant_id, document="policy").count()


def decided(team, task_type, cost, count):
    facts = [TaskFacts(task_type=task_type, risk="low", external_side_effects=False, estimated_cost=Decimal(cost))
             for _ in range(count)]
    with transaction.atomic():
        governance.decisions_make(tenant_id=team.tenant_id, facts=facts)


def approved_tool_calls(team, people):
    for by in people:
        facts = TaskFacts(task_type="tool:crm_update", risk="low", external_side_effects=False,
                          estimated_cost=Decimal("25"))
        run_id = uuid.uuid4()
        with transaction.atomic():
            decision, policy, version = governance.decision_make(tenant_id=team.tenant_id, facts=facts,
                                                                 task_id=run_id, step=1)
            escalation = governance.escalation_open(
                tenant_id=team.tenant_id, task_id=run_id, facts=facts, summary="", parameters={}, step=1,
                requester=team.submitter, reasons=decision.reasons, policy=policy, policy_version=version,
                tool="crm_update", arguments_schema={"type": "object"})
        governance.escalation_approve(escalation_id=escalation.pk, user=by, reason="fine")


@pytest.fixture
def team(acme):
    acme.set_policy(autonomy_level="supervised", cost_threshold=10, suggest_after=2)
    return acme


def test_an_approver_simulates_an_edited_policy_and_nothing_is_saved(client, team):
    decided(team, "report.quarterly", "12", 7)
    client.force_login(team.approver)
    page = client.get(screen())
    assert page.status_code == 200 and "&quot;autonomy_level&quot;: &quot;supervised&quot;" in page.content.decode()
    assert 'id="save"' not in page.content.decode(), "saving is for admins"
    before = versions(team)

    response = client.post(screen(), {"action": "simulate", "last": "5",
                                      "policy": json.dumps({"rules": {"report.quarterly": "allow"}})})

    assert response.status_code == 200
    result = response.context["simulation"]
    assert (result["replayed"], result["transitions"]) == (5, {"escalate→allow": 5})
    body = response.content.decode()
    assert 'id="simulation"' in body and "escalate→allow: examples" in body
    assert "the policy allows report.quarterly tasks" in body
    assert versions(team) == before
    assert client.post(screen(), {"action": "save", "policy": "{}"}).status_code == 403


def test_an_invalid_policy_is_shown_not_saved(client, team):
    client.force_login(team.admin)
    before = versions(team)

    for text in ('{"rules": {"x": "maybe"}}', "not json", '{"suggest_after": 1}'):
        response = client.post(screen(), {"action": "save", "policy": text})
        assert response.status_code == 200
        assert [m.level_tag for m in response.context["messages"]] == ["error"], text
    assert versions(team) == before


def test_an_admin_saves_a_version_and_accepts_a_suggestion(client, team):
    approved_tool_calls(team, [team.approver, team.admin])
    client.force_login(team.admin)
    page = client.get(screen())
    [suggestion] = page.context["suggestions"]
    assert suggestion["summary"] == "tool:crm_update: allow below 25.0"
    assert "all approved as asked" in page.content.decode() and 'value="accept"' in page.content.decode()
    before = versions(team)

    accepted = client.post(screen(), {"action": "accept", "task_type": "tool:crm_update",
                                      "rule": suggestion["rule_json"]})
    assert accepted.status_code == 302 and versions(team) == before + 1
    again = client.post(screen(), {"action": "accept", "task_type": "tool:crm_update",
                                   "rule": suggestion["rule_json"]}, follow=True)
    assert "no suggestion" in " ".join(str(m) for m in again.context["messages"])
    assert versions(team) == before + 1

    saved = client.post(screen(), {"action": "save", "policy": '{"cost_threshold": 12}', "note": "a bit more"})
    assert saved.status_code == 302
    latest = ConfigVersion.objects.filter(tenant_id=team.tenant_id, document="policy").order_by("-version").first()
    assert (latest.content["cost_threshold"], latest.reason) == (12, "a bit more")
    assert latest.content["rules"] == {"tool:crm_update": {"allow_below": 25.0}}


def test_a_submitter_may_not_open_the_screen_and_an_approver_may_not_accept(client, team):
    approved_tool_calls(team, [team.approver, team.admin])
    before = versions(team)
    client.force_login(team.submitter)
    assert client.get(screen()).status_code == 403
    client.force_login(team.approver)
    refused = client.post(screen(), {"action": "accept", "task_type": "tool:crm_update",
                                     "rule": '{"allow_below": 25.0}'})
    assert refused.status_code == 403 and versions(team) == before


def test_the_decisions_list_shows_the_tenants_own_and_links_to_the_screen(client, team, globex):
    decided(team, "report.quarterly", "12", 2)
    decided(globex, "report.secret", "1", 1)
    client.force_login(team.approver)

    response = client.get(reverse("admin:governance_decisionrecord_changelist"))

    assert response.status_code == 200
    assert {record.task_type for record in response.context["cl"].result_list} == {"report.quarterly"}
    assert 'id="policy-screen-link"' in response.content.decode()
