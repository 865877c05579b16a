"""webhook.post: an external side effect, governed, sent once per success, retried on 5xx."""

import pytest

from emma.models import AgentTask
from tests.conftest import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_external_side_effect_escalates_under_supervised(acme):
    body = acme.submit(task_type="webhook.post", parameters={"url": "https://example.com/hook"})
    assert body["decision"] == "escalate"
    assert any("external side effects" in reason for reason in body["decision_reasons"])


def test_approved_webhook_is_sent_once_with_the_task_id(acme, receiver, celery_worker_process):
    body = acme.submit(task_type="webhook.post", parameters={"url": receiver.url, "body": {"hello": 1}})
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json")
    wait_for_status(body["task_id"], "succeeded")
    assert receiver.received == [{"body": {"hello": 1}, "idempotency_key": body["task_id"]}]


def test_receiver_errors_are_retried(acme, receiver, celery_worker_process):
    receiver.fail_first = 2
    acme.set_policy(rules={"webhook.post": "allow"})
    body = acme.submit(task_type="webhook.post", parameters={"url": receiver.url})
    wait_for_status(body["task_id"], "succeeded", timeout=40)
    assert len(receiver.received) == 3
    assert AgentTask.objects.get(pk=body["task_id"]).attempts == 3


def test_the_approval_and_the_result_stay_in_the_audit_chain_after_pruning(acme, receiver, celery_worker_process):
    """The task's events go with retention; its approval and its outcome, with the receipt, stay."""
    from django.core.management import call_command

    from governance.audit import verify_chain
    from governance.models import AuditEvent

    body = acme.submit(task_type="webhook.post", parameters={"url": receiver.url, "body": {"hello": 1}})
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json")
    wait_for_status(body["task_id"], "succeeded")

    call_command("prune_logs", days=0)

    assert not AgentTask.objects.get(pk=body["task_id"]).events.exists(), "the status history was pruned"
    chain = list(AuditEvent.objects.filter(tenant_id=acme.tenant_id).order_by("seq").values_list("action", "after"))
    actions = [action for action, _ in chain]
    assert actions == ["task.submitted", "escalation.opened", "escalation.approved", "task.succeeded"]
    outcome = chain[-1][1]
    assert outcome["status"] == "succeeded" and outcome["receipt"] == {"status_code": 200}
    checked, broken = verify_chain(acme.tenant_id)
    assert (checked, broken) == (4, None)
    call_command("verify_audit_log")  # exits non-zero on a break
