"""Shared fixtures: users in tenants, JWT clients, and a real Celery worker process."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from core import services as core_services
from core import throttling
from core.clients import redis_client

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_a_busy_worker():
    """A transactional test ends by TRUNCATEing every table while the session's real Celery worker may
    still be finishing a task that test queued (its last transition touches the task, its events and the
    audit chain). PostgreSQL then breaks the deadlock by cancelling one side; when that is the flush, it
    is tried again, as any client of a busy database would."""
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def fixture_teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except Exception as exc:  # noqa: BLE001 - flush wraps the deadlock in a CommandError
                if "deadlock detected" not in str(exc.__cause__ or exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    TransactionTestCase._fixture_teardown = fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = original


SCAN_STEP = 10_000


@pytest.fixture(scope="session", autouse=True)
def _no_working_memory_of_earlier_runs():
    """Valkey keeps what earlier runs wrote, and a new test database numbers its tenants from 1 again: an
    earlier run's working memory would be a new tenant's."""
    client = redis_client()
    keys = list(client.scan_iter("emma:wm:*"))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Throttle counters live in Redis; each test starts with none. One SCAN step covers a test instance's whole
    keyspace (the default step of 10 keys made this a round trip per 10 keys, before every test)."""
    client = redis_client()
    keys = list(client.scan_iter(f"{throttling.KEY_PREFIX}*", count=SCAN_STEP))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture(autouse=True)
def _no_configuration_kept_from_earlier_tests():
    """This process's cache of tenants' configuration (core.configuration.cache) starts empty in each test."""
    from core.configuration import cache

    cache.drop()
    yield
    cache.drop()


@pytest.fixture
def make_user(db):
    def make(username="alice", tenant="acme", role="submitter", password="correct-horse-battery"):
        return core_services.user_upsert(username=username, password=password, tenant_slug=tenant, role=role)

    return make


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs what the code inside deferred to after its commit (governance's hooks,
    publishes), as a real commit would; a test's own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated as the given user with a real JWT."""

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh_for(user).access_token}")
        return client

    return make


def refresh_for(user, tenant: str | None = None):
    """A refresh token of the user in their only tenant (or `tenant`), as POST /api/auth/token gives one."""
    from core.models import Membership
    from core.tokens import refresh_token_for

    memberships = Membership.objects.select_related("user", "tenant").filter(user=user)
    return refresh_token_for(memberships.get(tenant__slug=tenant) if tenant else memberships.get())


def database_url_for_subprocess() -> str:
    db = settings.DATABASES["default"]
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


# Settings this test run chose for the processes it starts, such as a fake vendor's loopback URL
# (tests/integrations/conftest.py): config.settings.test ignores the environment, so they travel apart
# (tests/process_settings.py).
CHILD_SETTINGS: dict = {}


def subprocess_env(**extra) -> dict:
    """The environment for a child process that must use this test run's database, broker and settings."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "tests.process_settings",
        "EMMA_TEST_CHILD_SETTINGS": json.dumps(CHILD_SETTINGS),
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    })
    env.update(extra)
    return env


class WorkerProcess:
    """`celery worker` as a child process, logging JSON to a file the test can read. `env` adds to (or
    overrides) subprocess_env's, such as a broker of the test's own."""

    def __init__(self, log_path: Path, metrics_dir: Path, concurrency: int = 2, env: dict | None = None):
        self.log_path = log_path
        self.metrics_dir = metrics_dir
        self.concurrency = concurrency
        self.env = env or {}
        self.process = None

    def start(self):
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        env = subprocess_env(PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir), **self.env)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", str(self.concurrency), "-P", "prefork",
             "-n", f"test-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "-I", "tests.celery_tasks",
             "-l", "INFO"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text()

    def stop(self):
        stop_process_group(self.process)
        self.log.close()


def stop_process_group(process: subprocess.Popen | None) -> None:
    """SIGTERM a child started with start_new_session, SIGKILL its group if it lingers past 20 s."""
    if process and process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def pytest_collection_modifyitems(items):
    """Tests that need the real Celery worker are marked `worker`: `make test-quick` leaves them out."""
    for item in items:
        if "celery_worker_process" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real worker for the session, on every queue (no -Q: all of settings'), against the test database.
    Tests that use it need `transactional_db` so the worker sees their rows."""
    directory = tmp_path_factory.mktemp("worker")
    worker = WorkerProcess(directory / "worker.log", directory / "metrics").start()
    yield worker
    worker.stop()
    shutil.rmtree(directory, ignore_errors=True)


def run_concurrently(function, arguments: list) -> list:
    """Call function(argument) in one thread per argument, all at once; their results, in order. What a
    thread raised is raised here (the first, in argument order), so a failure cannot pass unseen.
    Each thread closes its database connection (Django opens one per thread)."""
    import threading

    from django.db import connection

    results, errors = [None] * len(arguments), [None] * len(arguments)

    def call(index, argument):
        try:
            results[index] = function(argument)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def wait_for(predicate, timeout=20.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class Team:
    """Users of one tenant, each with an authenticated API client."""

    def __init__(self, tenant, make_user, client_for):
        self.tenant = tenant
        self.submitter = make_user(username=f"{tenant}-submitter", tenant=tenant, role="submitter")
        self.approver = make_user(username=f"{tenant}-approver", tenant=tenant, role="approver")
        self.admin = make_user(username=f"{tenant}-admin", tenant=tenant, role="admin")
        self.submitter_api = client_for(self.submitter)
        self.approver_api = client_for(self.approver)
        self.admin_api = client_for(self.admin)
        self.tenant_id = self.submitter.memberships.get().tenant_id

    def set_policy(self, **document):
        response = self.admin_api.put("/api/governance/policy", document, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    def submit(self, task_type="diagnostic.echo", client=None, **body):
        response = (client or self.submitter_api).post("/api/tasks", {"task_type": task_type, **body}, format="json")
        assert response.status_code in (200, 202), response.content
        return response.json()


@pytest.fixture
def acme(make_user, client_for):
    return Team("acme", make_user, client_for)


@pytest.fixture
def globex(make_user, client_for):
    return Team("globex", make_user, client_for)


def task_status(task_id) -> str:
    from emma.models import AgentTask

    return AgentTask.objects.get(pk=task_id).status


def wait_for_status(task_id, *statuses, timeout=30.0):
    return wait_for(lambda: task_status(task_id) in statuses, timeout=timeout,
                    message=f"task {task_id} to reach {statuses} (now {task_status(task_id)})")


@pytest.fixture
def fake_llm(settings):
    """The fake model server (tests/fakes/llm.py), nothing scripted, with this process's LLM settings
    pointing at it (provider openai; set settings.LLM_PROVIDER = "anthropic" for the other wire format)
    and the LLM breakers forgotten. What a scripted reply function raised is raised here at teardown."""
    from core import breaker
    from tests.fakes.llm import fake_llm_server, settings_for

    fake = fake_llm_server()
    fake.reset()
    for name, value in settings_for("openai").items():
        setattr(settings, name, value)
    names = [f"llm-{provider}" for provider in ("openai", "anthropic")]
    for name in names:
        breaker.reset(name)
    yield fake
    errors = list(fake.errors)
    fake.reset()
    for name in names:
        breaker.reset(name)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One tests.surface World for a whole module (the authorization matrix, the hostile inputs): built
    once, its hundreds of tests each in a savepoint, rolled back after the module."""
    from tests.surface import world_rolled_back

    with world_rolled_back(django_db_blocker) as built:
        yield built
