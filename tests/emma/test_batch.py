"""POST /api/tasks/batch: up to 100 tasks in one transaction, each with its own decision, audit event
and idempotency key; one invalid task rejects the whole batch, naming its index."""

import pytest

from emma import services
from emma.models import AgentTask, TaskEvent
from governance.audit import verify_chain
from governance.models import AuditEvent, Escalation

pytestmark = pytest.mark.django_db

URL = "/api/tasks/batch"


def echo(text, **extra):
    return {"task_type": "diagnostic.echo", "parameters": {"text": text}, **extra}


def test_a_batch_decides_records_and_audits_each_task(acme, committed, receiver):
    batch = [echo("one", idempotency_key="k-1"),
             {"task_type": "webhook.post", "parameters": {"url": receiver.url}, "description": "Tell the CRM"},
             echo("three", priority=9)]

    with committed():
        response = acme.submitter_api.post(URL, {"tasks": batch}, format="json")

    assert response.status_code == 202, response.content
    answer = response.json()["tasks"]
    assert [(t["index"], t["decision"], t["status"], t["created"]) for t in answer] == [
        (0, "allow", "queued", True), (1, "escalate", "pending_approval", True), (2, "allow", "queued", True)]
    assert answer[1]["escalation_id"] == str(Escalation.objects.get().pk)
    tasks = {str(t.pk): t for t in AgentTask.objects.all()}
    assert [tasks[t["task_id"]].parameters for t in answer] == [{"text": "one"}, {"url": receiver.url},
                                                               {"text": "three"}]
    assert tasks[answer[0]["task_id"]].idempotency_key == "k-1" and tasks[answer[2]["task_id"]].priority == 9
    assert TaskEvent.objects.count() == 3
    submitted = AuditEvent.objects.filter(action="task.submitted").order_by("seq")
    assert [e.object_id for e in submitted] == [t["task_id"] for t in answer], "one audit event each, in order"
    assert verify_chain(acme.tenant_id) == (4, None), "3 submissions and the escalation, chained"

    services.task_execute(task_id=answer[0]["task_id"])
    assert AgentTask.objects.get(pk=answer[0]["task_id"]).status == "succeeded"


def test_one_invalid_task_rejects_the_batch_and_names_it(acme):
    batch = [echo("fine"), echo("fine too"), {"task_type": "webhook.post", "parameters": {"url": "ftp://x"}},
             {"task_type": "no.such.type"}]

    response = acme.submitter_api.post(URL, {"tasks": batch}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Task 2 of the batch is invalid; nothing was submitted."
    assert set(error["details"]) == {"tasks[2].parameters", "tasks[3].task_type"}
    assert AgentTask.objects.count() == TaskEvent.objects.count() == AuditEvent.objects.count() == 0


@pytest.mark.parametrize("body, problem", [
    ({"tasks": []}, "tasks"),
    ({"tasks": [echo(str(n)) for n in range(101)]}, "tasks"),
    ({"tasks": "all of them"}, "tasks"),
    ({"tasks": [echo("a"), "not an object"]}, "tasks[1].non_field_errors"),
    ({"tasks": [echo("a", surprise=1)]}, "tasks[0].surprise"),
    ({"tasks": [echo("a", idempotency_key="same"), echo("b", idempotency_key="same")]}, "tasks"),
])
def test_malformed_batches_are_refused_whole(acme, body, problem):
    response = acme.submitter_api.post(URL, body, format="json")

    assert response.status_code == 400, response.content
    assert problem in response.json()["error"]["details"]
    assert AgentTask.objects.count() == 0


def test_a_repeated_batch_returns_the_original_tasks(acme):
    batch = [echo("one", idempotency_key="k-1"), echo("two", idempotency_key="k-2")]
    first = acme.submitter_api.post(URL, {"tasks": batch}, format="json").json()["tasks"]

    again = acme.submitter_api.post(URL, {"tasks": [*batch, echo("three", idempotency_key="k-3")]}, format="json")

    assert again.status_code == 202
    answer = again.json()["tasks"]
    assert [t["task_id"] for t in answer[:2]] == [t["task_id"] for t in first]
    assert [t["created"] for t in answer] == [False, False, True]
    replay = acme.submitter_api.post(URL, {"tasks": batch}, format="json")
    assert replay.status_code == 200 and not any(t["created"] for t in replay.json()["tasks"])
    changed = acme.submitter_api.post(URL, {"tasks": [echo("one"), echo("TWO", idempotency_key="k-2")]}, format="json")
    assert changed.status_code == 409
    assert changed.json()["error"]["message"].startswith("Task 1 of the batch: this Idempotency-Key")
    assert AgentTask.objects.count() == 3


def test_each_task_of_a_batch_is_decided_on_the_budget_the_ones_before_it_left(acme):
    acme.set_policy(daily_budget=100, cost_threshold=1000, over_budget="escalate")

    response = acme.submitter_api.post(URL, {"tasks": [echo(str(n), estimated_cost="40") for n in range(3)]},
                                       format="json")

    assert [t["decision"] for t in response.json()["tasks"]] == ["allow", "allow", "escalate"]


def test_a_batch_needs_a_token_and_stays_in_its_tenant(acme, globex, api_client):
    assert api_client.post(URL, {"tasks": [echo("x")]}, format="json").status_code == 401
    task_id = acme.submitter_api.post(URL, {"tasks": [echo("x")]}, format="json").json()["tasks"][0]["task_id"]
    assert globex.submitter_api.get(f"/api/tasks/{task_id}").status_code == 404
    assert AgentTask.objects.get(pk=task_id).tenant_id == acme.tenant_id
