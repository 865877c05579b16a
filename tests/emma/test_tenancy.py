"""No endpoint crosses a tenant boundary."""

import pytest

from emma.models import AgentTask

pytestmark = pytest.mark.django_db


def test_for_tenant_scopes_a_tenant_owned_model(acme, globex):
    acme.submit()
    globex.submit()
    globex.submit()
    assert AgentTask.objects.for_tenant(acme.tenant_id).count() == 1
    assert AgentTask.objects.for_tenant(globex.tenant_id).count() == 2


def test_every_endpoint_keeps_to_the_callers_tenant(acme, globex):
    body = acme.submit(estimated_cost=50)
    acme.set_policy(autonomy_level="restricted")
    task, escalation = body["task_id"], body["escalation_id"]
    other = globex.admin_api
    assert other.get("/api/tasks").json()["count"] == 0
    assert other.get(f"/api/tasks/{task}").status_code == 404
    assert other.post(f"/api/tasks/{task}/cancel").status_code == 404
    assert other.get("/api/escalations/active").json()["count"] == 0
    assert other.get(f"/api/escalations/{escalation}").status_code == 404
    assert other.post(f"/api/escalations/{escalation}/approve", {"reason": "x"}, format="json").status_code == 404
    assert other.post(f"/api/escalations/{escalation}/reject", {"reason": "x"}, format="json").status_code == 404
    assert other.get("/api/governance/policy").json()["version"] == 0
    assert other.get("/api/governance/policy/versions").json()["count"] == 0
    assert other.post("/api/governance/policy/rollback", {"version": 1}, format="json").status_code == 400
    assert other.get("/api/audit").json()["count"] == 0
    assert other.get("/api/me").json()["tenant"] == "globex"
    # and nothing changed on acme's side
    assert acme.admin_api.get(f"/api/tasks/{task}").json()["status"] == "pending_approval"
    assert acme.admin_api.get("/api/governance/policy").json()["version"] == 1


def test_malformed_ids_are_404_not_500(acme):
    assert acme.admin_api.get("/api/tasks/not-a-uuid").status_code == 404
    assert acme.admin_api.post("/api/escalations/123/approve", {"reason": "x"}, format="json").status_code == 404
