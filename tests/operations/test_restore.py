"""restore_database: checks the checksum, refuses without --yes, and brings back what the backup held."""

from pathlib import Path

import pytest
from django.db import connection

from emma.models import AgentTask, TaskEvent
from governance.audit import verify_chain
from operations import jobs
from operations.models import Backup, MaintenanceRun
from tests.operations.conftest import manage, stderr_message, submit_and_cancel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backed_up(acme, backup_dir):
    """Two finished tasks, then a backup of them; the backup's file."""
    ids = submit_and_cancel(acme, 2)
    run = jobs.backup_job()
    return ids, Path(run.figures["file"])


def test_restore_brings_back_a_deleted_row(backed_up):
    (kept, deleted), dump = backed_up
    events = TaskEvent.objects.filter(task_id=deleted).count()
    AgentTask.objects.filter(pk=deleted).delete()

    result = manage("restore_database", str(dump), "--yes")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "restored" in result.stdout
    connection.close()  # the tables were dropped and created again under this connection
    assert AgentTask.objects.filter(pk=deleted).exists() and AgentTask.objects.filter(pk=kept).exists()
    assert TaskEvent.objects.filter(task_id=deleted).count() == events
    checked, broken = verify_chain()
    assert broken is None and checked > 0


def test_restore_keeps_the_operations_records_and_records_itself(backed_up):
    _, dump = backed_up
    backup = Backup.objects.get()  # `running` inside the dump, which was taken while it was being written

    result = manage("restore_database", str(dump), "--yes")

    assert result.returncode == 0, result.stderr[-3000:]
    connection.close()
    assert Backup.objects.get().status == backup.status == Backup.Status.COMPLETED
    restore = MaintenanceRun.objects.get(job="restore_database")
    assert restore.outcome == MaintenanceRun.Outcome.SUCCESS and restore.figures["file"] == str(dump)
    assert MaintenanceRun.objects.filter(job=jobs.BACKUP, outcome=MaintenanceRun.Outcome.SUCCESS).exists()


def test_restore_without_yes_refuses_and_explains(backed_up):
    (_, deleted), dump = backed_up
    AgentTask.objects.filter(pk=deleted).delete()

    result = manage("restore_database", str(dump))

    assert result.returncode != 0
    message = stderr_message(result)
    assert len(message.splitlines()) == 1
    assert "--yes" in message and "replaces every table" in message
    assert not AgentTask.objects.filter(pk=deleted).exists()


def test_restore_refuses_a_backup_whose_checksum_does_not_match(backed_up):
    (_, deleted), dump = backed_up
    AgentTask.objects.filter(pk=deleted).delete()
    with open(dump, "ab") as handle:
        handle.write(b"tampered")

    result = manage("restore_database", str(dump), "--yes")

    assert result.returncode != 0
    message = stderr_message(result)
    assert len(message.splitlines()) == 1 and "checksum mismatch" in message
    assert not AgentTask.objects.filter(pk=deleted).exists()


def test_restore_refuses_a_backup_without_its_checksum_file(backed_up):
    _, dump = backed_up
    Path(f"{dump}.sha256").unlink()

    result = manage("restore_database", str(dump), "--yes")

    assert result.returncode != 0 and "no checksum file" in stderr_message(result)
