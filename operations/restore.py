"""Restore a backup into the configured database, replacing what is there.

The dump holds every table, the operations records included: restored as they are, they would say the
backup being restored is still `running` and forget every backup and run since. Those two tables describe
the files on disk and what was done to the database, which a restore does not undo, so they are read
before the restore and put back after it, and the restore itself is recorded last."""

import time
from pathlib import Path

from django.core import serializers
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from operations import pg
from operations.backups import checksum_verify
from operations.locks import job_lock
from operations.models import Backup, MaintenanceRun
from operations.pg import MaintenanceError
from operations.runs import record_run

JOB = "restore_database"
_HISTORY_MODELS = (Backup, MaintenanceRun)


def _history() -> list:
    return [obj for model in _HISTORY_MODELS for obj in model.objects.order_by("pk")]


@transaction.atomic
def _put_back(history: list) -> None:
    data = serializers.serialize("python", history)
    for model in _HISTORY_MODELS:
        model.objects.all().delete()
    for item in serializers.deserialize("python", data):
        item.save()
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), list(_HISTORY_MODELS)):
            cursor.execute(statement)


def database_restore(*, path: Path, trigger: str = "command") -> MaintenanceRun:
    """Check the backup's checksum, then `pg_restore --clean --if-exists --single-transaction` it into the
    configured database: all or nothing. Operations records are kept across it (see the module's note)."""
    path = Path(path).resolve()
    started, clock = timezone.now(), time.monotonic()
    digest = checksum_verify(path, expected=_recorded_checksum(path))
    with pg.connect() as conn:
        major, _ = pg.server_version(conn)
    pg_restore = pg.find_tool("pg_restore", major)
    with job_lock(JOB) as held:
        if not held:
            raise MaintenanceError("another restore is running")
        history = _history()
        connection.close()  # hold nothing open on the tables pg_restore drops
        try:
            pg.run_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
                         "--single-transaction", "--exit-on-error", f"--dbname={pg.database_name()}", path],
                        env=pg.tool_env())
        except Exception as exc:
            # One transaction: the database is as it was; record the failed attempt in it.
            record_run(JOB, trigger=trigger, started_at=started, outcome=MaintenanceRun.Outcome.FAILED,
                       figures={"file": str(path), "sha256": digest}, error=str(exc)[:4000])
            raise
        _put_back(history)
        return record_run(JOB, trigger=trigger, started_at=started, outcome=MaintenanceRun.Outcome.SUCCESS,
                          figures={"file": str(path), "sha256": digest, "size_bytes": path.stat().st_size,
                                   "seconds": round(time.monotonic() - clock, 3)})


def _recorded_checksum(path: Path) -> str | None:
    """The checksum this database recorded for the file, when it took it (a file from elsewhere has none)."""
    backup = Backup.objects.filter(file=str(path)).exclude(sha256="").first()
    return backup.sha256 if backup else None
