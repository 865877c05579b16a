"""Operations tests: backups go to a folder of the test's own; commands run as real processes."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


def manage(*args: str, **env) -> subprocess.CompletedProcess:
    """`manage.py <args>` in a child process on this test run's database and broker."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=300)


def stderr_message(result: subprocess.CompletedProcess) -> str:
    """What a command said on stderr, without the JSON log lines."""
    return "\n".join(line for line in result.stderr.splitlines() if not line.startswith("{"))


def submit_and_cancel(team, count: int) -> list[str]:
    """Tasks that escalate (an external side effect) and are then withdrawn: final, with a history and
    audit events, and never handed to a worker."""
    ids = []
    for n in range(count):
        body = team.submit("webhook.post", parameters={"url": "https://crm.example.com/hook", "body": {"n": n}})
        assert body["status"] == "pending_approval", body
        response = team.submitter_api.post(f"/api/tasks/{body['task_id']}/cancel")
        assert response.status_code == 200, response.content
        ids.append(body["task_id"])
    return ids
