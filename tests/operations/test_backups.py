"""Backups: a custom-format pg_dump with its checksum and record, verified by a real restore into a scratch
database, and retention that never removes the newest good backup."""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sentry_sdk
from django.core.management import call_command
from django.utils import timezone
from prometheus_client import REGISTRY
from sentry_sdk.transport import Transport

from emma.models import AgentTask, TaskEvent
from governance.models import AuditEvent
from operations import backups, jobs, pg
from operations.models import Backup, MaintenanceRun
from operations.pg import MaintenanceError
from tests.operations.conftest import submit_and_cancel

pytestmark = pytest.mark.django_db(transaction=True)


def scratch_databases() -> list[str]:
    with pg.connect() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            [f"{pg.database_name()}_verify_%"]).fetchall()
    return [row[0] for row in rows]


def verifications(outcome: str) -> float:
    return REGISTRY.get_sample_value("emma_backup_verifications_total", {"outcome": outcome}) or 0.0


def test_backup_writes_a_custom_format_dump_with_its_checksum_and_a_record(acme, backup_dir):
    submit_and_cancel(acme, 2)

    run = jobs.backup_job()

    assert run.outcome == MaintenanceRun.Outcome.SUCCESS
    backup = Backup.objects.get(pk=run.figures["backup_id"])
    path = Path(backup.file)
    assert path.parent == backup_dir and path.name.startswith(f"{pg.database_name()}-")
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not list(backup_dir.glob(".*.partial"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (backup_dir / f"{path.name}.sha256").read_text() == f"{digest}  {path.name}\n"  # sha256sum -c reads it
    assert backup.status == Backup.Status.COMPLETED and backup.sha256 == digest
    assert backup.size_bytes == path.stat().st_size and backup.duration_seconds > 0
    assert backup.server_version.startswith("18")
    # Counted in the dump's own snapshot, from the models of Emma's apps.
    assert backup.row_counts["emma_agenttask"] == AgentTask.objects.count() == 2
    assert backup.row_counts["emma_taskevent"] == TaskEvent.objects.count()
    assert backup.row_counts["governance_auditevent"] == AuditEvent.objects.count() > 0
    assert {"governance_escalation", "memory_item", "memory_episodic_event", "emma_backup"} <= set(backup.row_counts)
    assert run.figures["size_bytes"] == backup.size_bytes and run.figures["sha256"] == digest


def test_backup_command_verifies_the_backup_by_a_real_restore(acme, backup_dir):
    submit_and_cancel(acme, 1)
    before = verifications("verified")

    call_command("backup_database")

    backup = Backup.objects.get()
    assert backup.status == Backup.Status.VERIFIED and backup.verified_at is not None
    run = MaintenanceRun.objects.get(job=jobs.VERIFY)
    assert run.outcome == MaintenanceRun.Outcome.SUCCESS and run.figures["verified"] == [backup.pk]
    assert verifications("verified") == before + 1
    assert scratch_databases() == []  # the scratch database is dropped


def test_verification_restores_and_compares_counts_taken_in_the_dumps_snapshot(acme, backup_dir):
    submit_and_cancel(acme, 2)
    backup = backups.backup_create()
    submit_and_cancel(acme, 1)  # written after the dump: not in it, and not in its counts

    verified = backups.backup_verify(backup_id=backup.pk)

    assert verified.status == Backup.Status.VERIFIED
    assert verified.row_counts["emma_agenttask"] == 2 and AgentTask.objects.count() == 3


class CapturingTransport(Transport):
    envelopes: list = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


@pytest.fixture
def sentry_events():
    CapturingTransport.envelopes = []
    sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=CapturingTransport, default_integrations=False)
    yield lambda: [item.payload.json for envelope in CapturingTransport.envelopes for item in envelope.items
                   if item.type == "event"]
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off again, as in the rest of the suite


def test_a_backup_whose_restore_differs_is_marked_failed_and_reported(acme, backup_dir, sentry_events, caplog):
    submit_and_cancel(acme, 1)
    backup = backups.backup_create()
    Backup.objects.filter(pk=backup.pk).update(row_counts={**backup.row_counts, "emma_agenttask": 99})
    before = verifications("failed")

    run = jobs.verify_job(backup_ids=[backup.pk], reraise=False)

    backup.refresh_from_db()
    assert backup.status == Backup.Status.FAILED and "emma_agenttask 99→1" in backup.error
    assert run.outcome == MaintenanceRun.Outcome.FAILED and run.figures["failed"] == [backup.pk]
    assert verifications("failed") == before + 1
    assert any(record.levelname == "ERROR" and "failed verification" in record.getMessage()
               for record in caplog.records)
    events = sentry_events()
    assert len(events) == 1 and events[0]["level"] == "error"
    assert "failed verification" in events[0]["message"]
    assert scratch_databases() == []


def test_a_damaged_backup_file_fails_verification(acme, backup_dir):
    backup = backups.backup_create()
    with open(backup.file, "ab") as handle:
        handle.write(b"\0")

    with pytest.raises(backups.BackupVerificationFailed, match="checksum mismatch"):
        backups.backup_verify(backup_id=backup.pk)
    assert Backup.objects.get(pk=backup.pk).status == Backup.Status.FAILED


def test_the_fallback_verifies_every_completed_backup_not_yet_verified(acme, backup_dir):
    first, second = backups.backup_create(), backups.backup_create()

    run = jobs.verify_job()

    assert sorted(run.figures["verified"]) == [first.pk, second.pk]
    assert set(Backup.objects.values_list("status", flat=True)) == {Backup.Status.VERIFIED}


def test_no_pg_dump_of_the_servers_version_is_one_clear_error():
    with pytest.raises(MaintenanceError) as caught:
        pg.find_tool("pg_dump", 99)
    message = str(caught.value)
    assert "\n" not in message and "PostgreSQL 99" in message and "(18)" in message


def make_backup(backup_dir: Path, status: str, days_old: int) -> Backup:
    started = timezone.now() - timedelta(days=days_old)
    path = backup_dir / f"old-{status}-{days_old}.dump"
    backup_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PGDMP")
    (backup_dir / f"{path.name}.sha256").write_text("0" * 64 + f"  {path.name}\n")
    return Backup.objects.create(file=str(path), status=status, started_at=started, finished_at=started)


def test_retention_deletes_old_backups_but_never_the_newest_good_one(backup_dir, settings):
    settings.BACKUP_RETENTION_DAYS = 30
    oldest_verified = make_backup(backup_dir, Backup.Status.VERIFIED, 50)
    newest_verified = make_backup(backup_dir, Backup.Status.VERIFIED, 45)
    newest_completed = make_backup(backup_dir, Backup.Status.COMPLETED, 40)
    failed = make_backup(backup_dir, Backup.Status.FAILED, 35)

    removed = backups.backups_apply_retention()

    assert sorted(removed) == sorted([Path(oldest_verified.file).name, Path(failed.file).name])
    assert set(Backup.objects.values_list("pk", flat=True)) == {newest_verified.pk, newest_completed.pk}
    assert not Path(oldest_verified.file).exists() and not Path(f"{oldest_verified.file}.sha256").exists()
    assert Path(newest_verified.file).exists() and Path(newest_completed.file).exists()


def test_retention_keeps_recent_backups_and_drops_old_ones_once_a_newer_one_is_good(backup_dir, settings):
    settings.BACKUP_RETENTION_DAYS = 30
    old_completed = make_backup(backup_dir, Backup.Status.COMPLETED, 40)
    old_verified = make_backup(backup_dir, Backup.Status.VERIFIED, 41)
    recent = make_backup(backup_dir, Backup.Status.VERIFIED, 1)

    backups.backups_apply_retention()

    assert list(Backup.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Path(old_completed.file).exists() and not Path(old_verified.file).exists()


def test_a_backup_interrupted_with_its_process_is_marked_failed_by_the_next_one(backup_dir):
    backup_dir.mkdir(parents=True)
    dead = Backup.objects.create(file=str(backup_dir / "dead.dump"), started_at=timezone.now())
    (backup_dir / ".dead.dump.partial").write_bytes(b"PGDMP half")

    run = jobs.backup_job()

    dead.refresh_from_db()
    assert dead.status == Backup.Status.FAILED and "interrupted" in dead.error
    assert not (backup_dir / ".dead.dump.partial").exists()
    assert run.figures["interrupted_backups_failed"] == 1
    os.remove(run.figures["file"])
