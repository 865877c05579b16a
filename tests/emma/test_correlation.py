import json

import pytest

from core import observability
from tests.celery_tasks import log_message
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_response_echoes_the_callers_correlation_id(client):
    response = client.get("/health/live", HTTP_X_CORRELATION_ID="req-1234")
    assert response["X-Correlation-ID"] == "req-1234"


def test_a_missing_or_malformed_correlation_id_is_replaced(client):
    generated = client.get("/health/live")["X-Correlation-ID"]
    assert len(generated) == 32
    replaced = client.get("/health/live", HTTP_X_CORRELATION_ID="bad id\nwith newline")["X-Correlation-ID"]
    assert replaced != "bad id\nwith newline" and len(replaced) == 32


def test_correlation_id_travels_into_the_workers_log_lines(celery_worker_process):
    token = observability.set_correlation_id("corr-propagation-test")
    try:
        log_message.delay("hello-from-test")
    finally:
        observability.reset_correlation_id(token)

    def task_line():
        for line in celery_worker_process.logs().splitlines():
            if line.startswith("{") and "test task says hello-from-test" in line:
                return json.loads(line)
        return None

    record = wait_for(task_line, message="the task's log line")
    assert record["correlation_id"] == "corr-propagation-test"
    assert record["task_name"] == "tests.log_message"
    assert record["task_id"]


def test_an_approved_task_runs_under_its_submissions_correlation_id(acme, celery_worker_process):
    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "estimated_cost": 50},
                                       format="json", HTTP_X_CORRELATION_ID="submitted-trace")
    body = response.json()
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json",
                           HTTP_X_CORRELATION_ID="approval-trace")

    def finished_line():
        for line in celery_worker_process.logs().splitlines():
            if line.startswith("{") and f"task {body['task_id']} succeeded" in line:
                return json.loads(line)
        return None

    assert wait_for(finished_line, message="the run's log line")["correlation_id"] == "submitted-trace"
