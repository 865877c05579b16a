"""Sentry is set up from SENTRY_DSN (with the Django, Celery and Redis integrations), and only then."""

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db

SCRIPT = """
import django, json, sentry_sdk; django.setup()
client = sentry_sdk.get_client()
print(json.dumps(sorted(client.integrations) if client.is_active() else None))
if client.is_active():
    try:
        raise RuntimeError("emma sentry smoke test")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
"""


class FakeSentry(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def run(**env):
    # Local settings, which read SENTRY_DSN from the environment as production does (test settings pin it off).
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.local", **env))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[0])


def test_no_sentry_without_a_dsn():
    assert run(SENTRY_DSN="") is None


def test_errors_reach_sentry_with_django_celery_and_redis_integrations():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        integrations = run(SENTRY_DSN=f"http://public@127.0.0.1:{server.server_port}/1")
    finally:
        server.shutdown()
    assert {"django", "celery", "redis"} <= set(integrations)
    assert any(b"emma sentry smoke test" in body for body in FakeSentry.received)
