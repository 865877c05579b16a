"""Faults: a worker killed mid-task, a broker down at publish time or restarted empty, a claim left by a dead worker."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

import tests.celery_tasks  # noqa: F401  (registers the test task types in this process too)
from emma import services
from emma.models import AgentTask
from tests.celery_tasks import side_effects
from tests.conftest import ROOT, subprocess_env, wait_for, wait_for_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def completions(task_id) -> int:
    return int(side_effects().get(f"emma-test:completions:{task_id}") or 0)


def test_sigkilled_worker_process_loses_nothing_and_runs_the_task_once(acme, celery_worker_process):
    task_id = acme.submit(task_type="test.counted", parameters={"seconds": 3})["task_id"]
    wait_for_status(task_id, "running")
    claimed_by = AgentTask.objects.get(pk=task_id).claimed_by
    os.kill(int(claimed_by.rsplit(":", 1)[1]), signal.SIGKILL)

    wait_for_status(task_id, "succeeded", timeout=60)
    time.sleep(1)
    task = AgentTask.objects.get(pk=task_id)
    assert completions(task_id) == 1
    assert task.attempts == 2
    assert any("taken over from lost worker" in e.note for e in task.events.all())


def test_task_committed_while_the_broker_is_down_is_published_later(acme, celery_worker_process):
    """The web process cannot reach the broker: the submission still succeeds (202), and the sweep
    publishes the task once the broker answers."""
    script = f"""
import django, json; django.setup()
import tests.celery_tasks  # the test task types
from rest_framework.test import APIClient
from core.models import Membership
from core.tokens import refresh_token_for
from django.contrib.auth import get_user_model
client = APIClient()
user = get_user_model().objects.get(username={acme.submitter.username!r})
client.credentials(HTTP_AUTHORIZATION="Bearer " + str(refresh_token_for(Membership.objects.get(user=user)).access_token))
response = client.post("/api/tasks", {{"task_type": "test.counted"}}, format="json")
print(json.dumps([response.status_code, response.json()]))
"""
    from devstack import embedded

    dead_broker = f"redis://127.0.0.1:{embedded.free_port()}/0"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env=subprocess_env(CELERY_BROKER_URL=dead_broker))
    assert result.returncode == 0, result.stderr[-3000:]
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 202 and body["status"] == "queued"
    assert "could not publish emma.execute_task" in result.stderr

    time.sleep(2)
    assert AgentTask.objects.get(pk=body["task_id"]).status == "queued"  # nothing was published
    AgentTask.objects.filter(pk=body["task_id"]).update(not_before=timezone.now())  # the sweep's wait is over
    assert services.tasks_republish_stale() == 1
    wait_for_status(body["task_id"], "succeeded")
    assert completions(body["task_id"]) == 1


def test_a_broker_restarted_empty_loses_nothing_the_sweep_publishes_every_queued_task_once(
        acme, celery_worker_process, monkeypatch):
    """Twenty tasks accepted while their messages vanish with the broker's queue (a restart without
    persistence): the database still says queued, so the republish sweep sends each again, and each runs
    once. A second sweep finds nothing left to send."""
    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)  # the lost messages
    response = acme.submitter_api.post("/api/tasks/batch", {"tasks": [
        {"task_type": "test.counted", "parameters": {"n": n}} for n in range(20)]}, format="json")
    assert response.status_code == 202
    task_ids = [task["task_id"] for task in response.json()["tasks"]]
    time.sleep(1)
    assert set(AgentTask.objects.filter(pk__in=task_ids).values_list("status", flat=True)) == {"queued"}
    monkeypatch.undo()

    AgentTask.objects.filter(pk__in=task_ids).update(not_before=timezone.now())  # the sweep's wait is over
    assert services.tasks_republish_stale() == 20
    for task_id in task_ids:
        wait_for_status(task_id, "succeeded", timeout=60)
    assert services.tasks_republish_stale() == 0
    time.sleep(1)
    assert [completions(task_id) for task_id in task_ids] == [1] * 20


def test_reaper_requeues_a_task_whose_worker_died_and_it_runs_once(acme, celery_worker_process):
    """A whole worker killed (no process left to reject its message): the claim's lease runs out and
    the reaper queues the task again."""
    task_id = acme.submit(task_type="test.counted", parameters={"seconds": 0})["task_id"]
    wait_for_status(task_id, "succeeded")
    # Stage the state a dead worker leaves behind: running, claimed by a process on another host.
    AgentTask.objects.filter(pk=task_id).update(status="running", claimed_by="gone-host:1", attempts=1,
                                                lease_until=timezone.now() - timedelta(seconds=1))
    side_effects().delete(f"emma-test:completions:{task_id}")
    assert services.tasks_reap_stuck() == 1
    wait_for_status(task_id, "succeeded")
    wait_for(lambda: completions(task_id) == 1, message="one completion")
    assert AgentTask.objects.get(pk=task_id).attempts == 2


def test_reaper_fails_a_stuck_task_with_no_attempts_left(acme, celery_worker_process):
    task_id = acme.submit(task_type="test.counted", parameters={"seconds": 0})["task_id"]
    # The worker runs it first, so it cannot finish the task between the staging below and the reaper.
    wait_for_status(task_id, "succeeded")
    AgentTask.objects.filter(pk=task_id).update(status="running", claimed_by="gone-host:1", attempts=3,
                                                lease_until=timezone.now() - timedelta(seconds=1))
    assert services.tasks_reap_stuck() == 1
    task = AgentTask.objects.get(pk=task_id)
    assert task.status == "failed" and "worker lost" in task.error
