import subprocess
import sys
import time

import pytest
from django.test import override_settings

from devstack import embedded
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_is_healthy_with_every_dependency_up(client, celery_worker_process):
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "healthy", body
    assert set(body["checks"]) == {"database", "redis", "broker", "workers", "integrations"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["latency_ms"], float | int)
    assert body["checks"]["database"]["pgvector"]


def test_stopped_broker_degrades_health_without_hanging(client, tmp_path):
    # A real broker of its own, which the test then stops.
    services = embedded.ensure(tmp_path, database=False, redis=True)
    try:
        with override_settings(CELERY_BROKER_URL=services.redis_url):
            from config.celery_app import app

            app.conf.broker_url = services.redis_url
            assert client.get("/health").json()["checks"]["broker"]["status"] == "ok"
            services.stop()
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
    finally:
        from django.conf import settings

        app.conf.broker_url = settings.CELERY_BROKER_URL
        services.stop()
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "fail"
    assert body["checks"]["workers"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert elapsed < 30  # bounded: a dead broker must not hang the probe (not a timing benchmark)


def test_unreachable_database_makes_health_unhealthy_and_not_ready(tmp_path):
    script = (
        "import django, json; django.setup();"
        "from django.test import Client; c = Client();"
        "h = c.get('/health'); r = c.get('/health/ready'); l = c.get('/health/live');"
        "print(json.dumps([h.status_code, h.json(), r.status_code, l.status_code]))"
    )
    env = subprocess_env(DATABASE_URL=f"postgres://postgres@127.0.0.1:{embedded.free_port()}/emma")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    health_status, body, ready_status, live_status = json.loads(result.stdout.strip().splitlines()[-1])
    assert health_status == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "fail"
    assert ready_status == 503
    assert live_status == 200


def test_version_and_liveness_need_no_auth(client):
    assert client.get("/health/live").json() == {"status": "alive"}
    version = client.get("/version").json()
    assert version["name"] == "emma" and version["version"]
