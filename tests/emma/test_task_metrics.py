import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def test_submission_decision_and_path_counters(acme):
    before = {
        "allow": sample("emma_tasks_submitted_total", task_type="diagnostic.echo", decision="allow"),
        "escalate": sample("emma_tasks_submitted_total", task_type="diagnostic.echo", decision="escalate"),
        "auto": sample("emma_workflows_auto_vs_hitl_total", path="auto"),
        "hitl": sample("emma_workflows_auto_vs_hitl_total", path="hitl"),
        "approved": sample("emma_approval_decisions_total", outcome="approved"),
    }
    acme.submit()
    body = acme.submit(estimated_cost=50)
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json")
    assert sample("emma_tasks_submitted_total", task_type="diagnostic.echo", decision="allow") == before["allow"] + 1
    assert sample("emma_tasks_submitted_total", task_type="diagnostic.echo",
                  decision="escalate") == before["escalate"] + 1
    assert sample("emma_workflows_auto_vs_hitl_total", path="auto") == before["auto"] + 1
    assert sample("emma_workflows_auto_vs_hitl_total", path="hitl") == before["hitl"] + 1
    assert sample("emma_approval_decisions_total", outcome="approved") == before["approved"] + 1


def test_status_and_open_escalation_gauges_come_from_the_database(acme, client):
    acme.set_policy(rules={"diagnostic.sleep": "deny"})
    acme.submit(task_type="diagnostic.sleep", parameters={"seconds": 1})
    acme.submit(estimated_cost=50)
    text = client.get("/metrics").content.decode()
    assert 'emma_tasks_in_status{status="rejected"} 1.0' in text
    assert 'emma_tasks_in_status{status="pending_approval"} 1.0' in text
    assert "emma_escalations_open 1.0" in text
