"""`make run` as a newcomer uses it: up, healthy, usable from a second shell, Ctrl-C leaves nothing.

`make run` is `python -m devstack run`: embedded PostgreSQL and Valkey, the Procfile's release line, then
web, worker, beat and Flower under honcho."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode

import psutil
import pytest

from devstack import embedded
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def start(data_dir, web_port, flower_port):
    # A newcomer's shell: nothing of Emma's configuration, whatever the shell running the suite exports
    # (make run reads the environment, as it should; the suite must not hand it a developer's).
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TERM")}
    env.update(EMMA_DATA_DIR=str(data_dir), EMMA_WEB_BIND=f"127.0.0.1:{web_port}",
               EMMA_FLOWER_PORT=str(flower_port), FLOWER_BASIC_AUTH="ops:secret-flower",
               CELERY_WORKER_CONCURRENCY="1", WEB_CONCURRENCY="1")
    log = open(data_dir.parent / f"run-{time.monotonic_ns()}.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while "Emma is running" not in open(log.name).read():
        assert process.poll() is None, open(log.name).read()[-4000:]
        assert time.monotonic() < deadline, open(log.name).read()[-4000:]
        time.sleep(0.3)
    return process, env, log


def get_json(url, headers=None, data=None):
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def port_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def leftovers(data_dir) -> list[str]:
    """Processes of this `make run`: the data services name data_dir on their command line; web, worker,
    beat and Flower carry it in their environment (EMMA_DATA_DIR)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if (any(str(data_dir) in part for part in (process.info["cmdline"] or []))
                    or process.environ().get("EMMA_DATA_DIR") == str(data_dir)):
                found.append(f"{process.info['pid']} {' '.join(process.info['cmdline'] or [])}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def test_make_run_serves_everything_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    web_port, flower_port = embedded.free_port(), embedded.free_port()
    process, env, log = start(data_dir, web_port, flower_port)
    base = f"http://127.0.0.1:{web_port}"
    try:
        def healthy():
            status, body = get_json(f"{base}/health")
            return body["status"] == "healthy"

        deadline = time.monotonic() + 60
        while not healthy():
            assert time.monotonic() < deadline, get_json(f"{base}/health")
            time.sleep(0.5)

        # Flower shows the worker, behind basic auth.
        auth = {"Authorization": "Basic " + b64encode(b"ops:secret-flower").decode()}
        _, workers = get_json(f"http://127.0.0.1:{flower_port}/api/workers?refresh=1", headers=auth)
        assert any(name.startswith("worker@") for name in workers)

        # A second shell: a management command finds the same embedded services through EMMA_DATA_DIR.
        second_shell = {k: v for k, v in env.items() if not k.startswith("EMMA_WEB")}
        subprocess.run([sys.executable, "manage.py", "emma_user", "--username", "dana", "--password",
                        "dana-password-1", "--tenant", "acme", "--role", "approver"],
                       cwd=ROOT, env=second_shell, check=True, capture_output=True, timeout=120)
        status, tokens = get_json(f"{base}/api/auth/token", {"Content-Type": "application/json"},
                                  json.dumps({"username": "dana", "password": "dana-password-1"}).encode())
        assert status == 200
        _, me = get_json(f"{base}/api/me", {"Authorization": f"Bearer {tokens['access']}"})
        assert me["tenant"] == "acme"
        # The admin logs in with the printed credentials.
        admin_password = (data_dir / "admin-password").read_text().strip()
        assert f"password {admin_password}" in open(log.name).read()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0, open(log.name).read()[-4000:]

    assert leftovers(data_dir) == []
    assert not port_open(web_port) and not port_open(flower_port)
    assert embedded.find(data_dir, database=True, redis=True).database_url is None
    # In order: the application processes (honcho reports each), then Valkey, then PostgreSQL.
    output = open(log.name).read()
    services_stopped = output.index("stopping embedded valkey, postgres")
    for name in ("web", "worker", "beat", "flower"):
        assert -1 < output.index(f"{name}.1 stopped") < services_stopped, output[-4000:]

    # With `make run` down, the second shell's command says so in one line, and starts nothing.
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=second_shell,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "`make run`" in result.stderr, result.stderr
    assert embedded.find(data_dir, database=True, redis=True).redis_url is None

    # A second `make run` reuses the data: the user made in the first one can still log in.
    process, env, log = start(data_dir, web_port, flower_port)
    try:
        status, _ = get_json(f"{base}/api/auth/token", {"Content-Type": "application/json"},
                             json.dumps({"username": "dana", "password": "dana-password-1"}).encode())
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
