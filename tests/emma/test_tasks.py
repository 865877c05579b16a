"""Submitting, listing, running, retrying, timing out and cancelling agent tasks."""

from decimal import Decimal

import pytest

import tests.celery_tasks  # noqa: F401  (registers the test task types in this process too)
from emma.models import AgentTask
from governance.models import DailyUsage, Escalation
from tests.conftest import run_concurrently, task_status, wait_for_status

pytestmark = pytest.mark.django_db


def test_low_risk_task_is_allowed_and_queued(acme):
    body = acme.submit(description="echo", parameters={"x": 1})
    assert body["status"] == "queued" and body["decision"] == "allow"
    assert body["escalation_id"] is None and body["correlation_id"]
    assert body["decision_reasons"]


def test_response_carries_the_requests_correlation_id(acme):
    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo"}, format="json",
                                       HTTP_X_CORRELATION_ID="trace-42")
    assert response.json()["correlation_id"] == "trace-42"
    assert AgentTask.objects.get(pk=response.json()["task_id"]).correlation_id == "trace-42"


@pytest.mark.parametrize("body, field", [
    ({"task_type": "no.such.type"}, "task_type"),
    ({"task_type": "diagnostic.sleep", "parameters": {"seconds": "soon"}}, "parameters"),
    ({"task_type": "diagnostic.sleep", "parameters": {}}, "parameters"),
    ({"task_type": "diagnostic.sleep", "parameters": {"seconds": 1, "extra": 2}}, "parameters"),
    ({"task_type": "diagnostic.echo", "priority": 11}, "priority"),
    ({"task_type": "diagnostic.echo", "priority": "high"}, "priority"),
    ({"task_type": "diagnostic.echo", "estimated_cost": -1}, "estimated_cost"),
    ({"task_type": "diagnostic.echo", "parameters": [1, 2]}, "parameters"),
    ({"task_type": "diagnostic.echo", "colour": "red"}, "colour"),
    ({}, "task_type"),
])
def test_bad_submissions_are_400_naming_the_field_and_store_nothing(acme, body, field):
    response = acme.submitter_api.post("/api/tasks", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert AgentTask.objects.count() == 0


def test_bad_parameter_names_the_parameter(acme):
    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.sleep", "parameters": {}},
                                       format="json")
    assert "seconds" in response.json()["error"]["details"]["parameters"]


def test_same_idempotency_key_and_body_returns_the_original(acme):
    first = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "parameters": {"a": 1}},
                                    format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    again = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "parameters": {"a": 1}},
                                    format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["task_id"] == first.json()["task_id"]
    assert AgentTask.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_409(acme):
    acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "parameters": {"a": 1}}, format="json",
                            HTTP_IDEMPOTENCY_KEY="key-2")
    other = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "parameters": {"a": 2}},
                                    format="json", HTTP_IDEMPOTENCY_KEY="key-2")
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    assert AgentTask.objects.count() == 1


def test_idempotency_keys_are_per_tenant(acme, globex):
    a = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="shared")
    b = globex.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo"}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 202
    assert a.json()["task_id"] != b.json()["task_id"]


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_idempotency_key_make_one_task(acme, client_for):
    def submit(_):
        client = client_for(acme.submitter)
        return client.post("/api/tasks", {"task_type": "diagnostic.echo"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="race").json()["task_id"]

    results = run_concurrently(submit, range(8))
    assert len(set(results)) == 1 and len(results) == 8
    assert AgentTask.objects.filter(idempotency_key="race").count() == 1


def test_list_filters_and_paginates(acme):
    for _ in range(3):
        acme.submit()
    acme.submit(task_type="diagnostic.sleep", parameters={"seconds": 0})
    listing = acme.submitter_api.get("/api/tasks", {"task_type": "diagnostic.echo", "page_size": 2}).json()
    assert listing["count"] == 3 and len(listing["results"]) == 2 and listing["next"]
    assert acme.submitter_api.get("/api/tasks", {"status": "queued"}).json()["count"] == 4
    bad = acme.submitter_api.get("/api/tasks", {"status": "sleeping"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]


def test_detail_shows_decision_reasons_and_history(acme):
    task_id = acme.submit(estimated_cost=50)["task_id"]
    detail = acme.submitter_api.get(f"/api/tasks/{task_id}").json()
    assert detail["status"] == "pending_approval" and detail["decision"] == "escalate"
    assert any("threshold" in reason for reason in detail["decision_reasons"])
    assert detail["escalation_id"]
    assert [event["to_status"] for event in detail["events"]] == ["pending_approval"]


def test_task_types_lists_schemas(acme):
    types = {t["name"]: t for t in acme.submitter_api.get("/api/task-types").json()}
    assert {"diagnostic.echo", "diagnostic.sleep"} <= set(types)
    assert types["diagnostic.sleep"]["parameters_schema"]["required"] == ["seconds"]
    assert types["diagnostic.echo"]["risk"] == "low"


def test_other_tenants_tasks_are_invisible(acme, globex):
    task_id = acme.submit(estimated_cost=50)["task_id"]
    assert globex.admin_api.get(f"/api/tasks/{task_id}").status_code == 404
    assert globex.admin_api.post(f"/api/tasks/{task_id}/cancel").status_code == 404
    assert globex.admin_api.get("/api/tasks").json()["count"] == 0
    assert task_status(task_id) == "pending_approval"


# --- cancellation -------------------------------------------------------------------------------


def test_cancel_pending_task_withdraws_its_escalation(acme):
    body = acme.submit(estimated_cost=50)
    response = acme.submitter_api.post(f"/api/tasks/{body['task_id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Escalation.objects.get(pk=body["escalation_id"]).status == "cancelled"
    again = acme.submitter_api.post(f"/api/tasks/{body['task_id']}/cancel")
    assert again.status_code == 409


def test_cancel_queued_task(acme):
    task_id = acme.submit()["task_id"]
    assert acme.submitter_api.post(f"/api/tasks/{task_id}/cancel").json()["status"] == "cancelled"


def test_only_submitter_or_admin_may_cancel(acme, make_user, client_for):
    task_id = acme.submit()["task_id"]
    colleague = client_for(make_user(username="colleague", tenant="acme"))
    assert colleague.post(f"/api/tasks/{task_id}/cancel").status_code == 403
    assert acme.admin_api.post(f"/api/tasks/{task_id}/cancel").status_code == 200


# --- execution through a real worker ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_allowed_task_runs_and_stores_its_result(acme, celery_worker_process):
    task_id = acme.submit(parameters={"hello": "world"})["task_id"]
    wait_for_status(task_id, "succeeded")
    detail = acme.submitter_api.get(f"/api/tasks/{task_id}").json()
    assert detail["result"] == {"hello": "world"} and detail["attempts"] == 1
    assert [e["to_status"] for e in detail["events"]] == ["queued", "running", "succeeded"]
    assert detail["started_at"] and detail["finished_at"]


@pytest.mark.django_db(transaction=True)
def test_retryable_errors_are_retried_with_backoff(acme, celery_worker_process):
    task_id = acme.submit(task_type="test.flaky", parameters={"succeed_on": 3})["task_id"]
    wait_for_status(task_id, "succeeded", timeout=40)
    task = AgentTask.objects.get(pk=task_id)
    assert task.attempts == 3 and task.result == {"attempt": 3}
    notes = [e.note for e in task.events.all()]
    assert sum("retrying in" in note for note in notes) == 2


@pytest.mark.django_db(transaction=True)
def test_retries_stop_at_the_types_maximum(acme, celery_worker_process):
    task_id = acme.submit(task_type="test.flaky", parameters={"succeed_on": 99})["task_id"]
    wait_for_status(task_id, "failed", timeout=60)
    task = AgentTask.objects.get(pk=task_id)
    assert task.attempts == 4 and "transient failure" in task.error


@pytest.mark.django_db(transaction=True)
def test_time_limit_fails_the_task(acme, celery_worker_process):
    task_id = acme.submit(task_type="test.slow", parameters={"seconds": 10})["task_id"]
    wait_for_status(task_id, "failed", timeout=30)
    assert "time limit" in AgentTask.objects.get(pk=task_id).error


@pytest.mark.django_db(transaction=True)
def test_running_task_is_cancelled_cooperatively(acme, celery_worker_process):
    task_id = acme.submit(task_type="diagnostic.sleep", parameters={"seconds": 30})["task_id"]
    wait_for_status(task_id, "running")
    response = acme.submitter_api.post(f"/api/tasks/{task_id}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"]
    wait_for_status(task_id, "cancelled", timeout=15)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_message_does_not_run_a_task_twice(acme, celery_worker_process):
    from emma.tasks import execute_task
    from tests.celery_tasks import side_effects

    task_id = acme.submit(task_type="test.counted", parameters={"seconds": 0.5})["task_id"]
    for _ in range(3):
        execute_task.delay(task_id)
    wait_for_status(task_id, "succeeded")
    import time

    time.sleep(1.5)  # let the duplicates arrive; they must find the task claimed
    assert int(side_effects().get(f"emma-test:completions:{task_id}")) == 1


@pytest.mark.django_db(transaction=True)
def test_budget_holds_under_concurrent_submissions(acme, client_for):
    acme.set_policy(autonomy_level="autonomous", daily_budget=10, over_budget="deny")

    def submit(_):
        return client_for(acme.submitter).post("/api/tasks", {"task_type": "diagnostic.echo", "estimated_cost": 1},
                                               format="json").json()["decision"]

    outcomes = run_concurrently(submit, range(25))
    assert outcomes.count("allow") == 10 and outcomes.count("deny") == 15
    assert DailyUsage.objects.get(tenant_id=acme.tenant_id).committed == Decimal("10")


# NUL characters, deep nesting, bodies that are not objects or not UTF-8, on every write endpoint:
# tests/test_hostile_input.py. Here, the numbers a task's columns cannot hold.
@pytest.mark.parametrize("raw", [
    '{"task_type": "diagnostic.echo", "parameters": {"a": NaN}}',
    '{"task_type": "diagnostic.echo", "parameters": {"a": 1e400}}',
    '{"task_type": "diagnostic.echo", "parameters": {"a": "\\ud800"}}',  # unpaired: no UTF-8 (jsonb) has it
    '{"task_type": "diagnostic.echo", "parameters": {"\\udfff": 1}}',
    '{"task_type": "diagnostic.echo", "estimated_cost": 1e20}',
])
def test_hostile_bodies_are_400_and_store_nothing(acme, raw):
    response = acme.submitter_api.post("/api/tasks", data=raw.encode("utf-8", "surrogateescape"),
                                       content_type="application/json")
    assert response.status_code == 400, response.content
    assert AgentTask.objects.count() == 0
