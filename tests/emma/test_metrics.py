import subprocess
import sys

import pytest

from tests.celery_tasks import log_message
from tests.conftest import ROOT, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_are_prometheus_text(client):
    client.get("/health/live")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "django_http_requests_total_by_method_total" in response.content.decode()


def test_metrics_sum_web_and_worker_processes(celery_worker_process):
    """The worker's task counts (written by its pool processes) appear in a web process's /metrics."""
    for n in range(3):
        log_message.delay(f"metrics-{n}")
    wait_for(lambda: celery_worker_process.logs().count("test task says metrics-") >= 3, message="three tasks")
    script = (
        "import django; django.setup(); from django.test import Client; c = Client();"
        "c.get('/health/live'); print(c.get('/metrics').content.decode())"
    )
    env = subprocess_env(PROMETHEUS_MULTIPROC_DIR=str(celery_worker_process.metrics_dir))

    def scrape():
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def counted():
        text = scrape()
        for line in text.splitlines():
            if line.startswith('emma_celery_tasks_total{') and 'task_name="tests.log_message"' in line \
                    and 'state="SUCCESS"' in line and float(line.rsplit(" ", 1)[1]) >= 3:
                return text
        return None

    text = wait_for(counted, timeout=30, interval=0.5, message="worker task counts in /metrics")
    assert 'emma_celery_task_duration_seconds_count{task_name="tests.log_message"}' in text
    assert "django_http_requests_total_by_method_total" in text
