"""An agent run whose process is SIGKILLed between a side effect and the next model call resumes from its
last committed step: the side effect happened once, the run finishes.

The run executes in a child process (`task_execute`, as a worker's would) that is killed while the
model's next answer is still on its way; the message's redelivery is played by running it again, which
takes over the dead process's claim. (That Celery redelivers a killed worker's message is proved in
tests/emma/test_faults.py.)"""

import json
import os
import signal
import subprocess
import sys

import pytest

from emma import services
from emma.models import AgentTask
from tests.conftest import CHILD_SETTINGS, ROOT, subprocess_env, wait_for
from tests.fakes.llm import settings_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_in_child(task_id) -> subprocess.Popen:
    env = subprocess_env(DJANGO_SETTINGS_MODULE="tests.process_settings",
                         EMMA_TEST_CHILD_SETTINGS=json.dumps({**CHILD_SETTINGS, **settings_for("openai")}))
    script = f"import django; django.setup(); from emma import services; services.task_execute(task_id={str(task_id)!r})"
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def test_a_run_killed_after_a_side_effect_resumes_without_repeating_it(acme, fake_llm, receiver, monkeypatch):
    # Submitted without a broker message: the session's worker, if one runs, has no model configured.
    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)
    acme.set_policy(rules={"agent.run": "allow", "tool:webhook.post": "allow"})
    fake_llm.reply(tool_calls=[("webhook.post", {"url": receiver.url, "body": {"deal": 7}})])
    fake_llm.reply(text="too late", delay=30)  # the answer the killed process waits for
    task_id = acme.submit(task_type="agent.run", parameters={"instructions": "Tell the CRM."})["task_id"]

    child = run_in_child(task_id)
    try:
        wait_for(lambda: len(fake_llm.requests) == 2, timeout=60, message="the model call after the side effect")
        assert len(receiver.received) == 1
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    run = AgentTask.objects.get(pk=task_id)
    assert run.status == "running" and run.steps.get(seq=2).status == "done"

    fake_llm.reply(text="Told the CRM.")
    services.task_execute(task_id=task_id)  # the redelivered message, in another process

    run = AgentTask.objects.get(pk=task_id)
    assert run.status == "succeeded", run.error
    assert run.result["answer"] == "Told the CRM." and run.attempts == 2
    assert receiver.received == [{"body": {"deal": 7}, "idempotency_key": f"{task_id}:2"}]
    assert any("taken over from lost worker" in event.note for event in run.events.all())
