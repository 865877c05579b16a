"""Backups: pg_dump in custom format with a SHA-256 checksum beside it, proven restorable by restoring
each one into a scratch database and finding the row counts it had when it was taken.

The counts are taken in the dump's own snapshot: a REPEATABLE READ transaction exports its snapshot,
counts Emma's tables, and stays open while `pg_dump --snapshot` reads exactly that state. So a restore
of a good backup finds exactly those numbers, however busy the database was."""

import hashlib
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import sentry_sdk
from django.conf import settings
from django.utils import timezone
from psycopg import sql

from operations import pg
from operations.metrics import BACKUP_VERIFICATIONS
from operations.models import Backup
from operations.pg import MaintenanceError

logger = logging.getLogger("operations")

GOOD = (Backup.Status.COMPLETED, Backup.Status.VERIFIED)


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def retention_days() -> int:
    return settings.BACKUP_RETENTION_DAYS


# --- checksums ----------------------------------------------------------------------------------


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.chmod(0o600)
    os.replace(partial, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checksum_verify(path: Path, expected: str | None = None) -> str:
    """The file's SHA-256 when it matches the `<file>.sha256` beside it (sha256sum format) and, when
    given, the recorded one; MaintenanceError naming the difference otherwise."""
    path = Path(path)
    if not path.is_file():
        raise MaintenanceError(f"no backup file at {path}")
    sidecar = checksum_path(path)
    if not sidecar.is_file():
        raise MaintenanceError(f"no checksum file {sidecar.name} beside {path}; "
                               f"refusing a backup that cannot be checked")
    fields = sidecar.read_text().split()
    if not fields or len(fields[0]) != 64:
        raise MaintenanceError(f"{sidecar} is not a sha256sum line")
    actual = file_sha256(path)
    if actual != fields[0].lower():
        raise MaintenanceError(f"checksum mismatch for {path}: the file's SHA-256 is {actual}, "
                               f"{sidecar.name} says {fields[0]}; the file is damaged or not the one backed up")
    if expected and actual != expected:
        raise MaintenanceError(f"checksum mismatch for {path}: the file's SHA-256 is {actual}, "
                               f"the backup record says {expected}")
    return actual


# --- taking a backup ----------------------------------------------------------------------------


def backups_mark_interrupted() -> int:
    """Backups still `running` while their job's lock is free died with their process: mark them failed
    and remove their partial files."""
    stale = list(Backup.objects.filter(status=Backup.Status.RUNNING))
    for backup in stale:
        if backup.file:
            path = Path(backup.file)
            path.with_name(f".{path.name}.partial").unlink(missing_ok=True)
    return Backup.objects.filter(pk__in=[b.pk for b in stale], status=Backup.Status.RUNNING).update(
        status=Backup.Status.FAILED, finished_at=timezone.now(), error="interrupted: the backup's process ended")


def backup_create(*, directory: Path | None = None) -> Backup:
    """Dump the whole database with the server's own pg_dump version into BACKUP_DIR, atomically (a
    temporary name, fsync, rename), write `<file>.sha256`, and record size, checksum, duration and the
    row counts of Emma's tables in the dump's snapshot. A failure is recorded on the Backup and raised."""
    directory = Path(directory or backup_dir()).absolute()  # the record must name the file from any cwd
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    started, clock = timezone.now(), time.monotonic()
    backup = Backup.objects.create(started_at=started, file="")
    final = directory / f"{pg.database_name()}-{started:%Y%m%dT%H%M%SZ}-{backup.pk}.dump"
    partial = final.with_name(f".{final.name}.partial")
    Backup.objects.filter(pk=backup.pk).update(file=str(final))
    try:
        with pg.connect(autocommit=False) as conn:
            major, version = pg.server_version(conn)
            conn.rollback()
            pg_dump = pg.find_tool("pg_dump", major)
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            row_counts = pg.count_rows(conn, pg.emma_tables(conn))
            pg.run_tool([pg_dump, "--format=custom", f"--file={partial}", f"--snapshot={snapshot}",
                         f"--dbname={pg.database_name()}"], env=pg.tool_env())
            conn.rollback()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.chmod(0o600)
        os.replace(partial, final)
        _fsync_dir(directory)
        digest = file_sha256(final)
        _write_durably(checksum_path(final), f"{digest}  {final.name}\n".encode())
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.FAILED, finished_at=timezone.now(),
                                                   duration_seconds=round(time.monotonic() - clock, 3),
                                                   error=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    Backup.objects.filter(pk=backup.pk).update(
        status=Backup.Status.COMPLETED, size_bytes=final.stat().st_size, sha256=digest, server_version=version,
        row_counts=row_counts, finished_at=timezone.now(), duration_seconds=round(time.monotonic() - clock, 3))
    backup.refresh_from_db()
    logger.info("backup %s written: %s (%s bytes)", backup.pk, final, backup.size_bytes,
                extra={"backup_id": backup.pk, "sha256": digest})
    return backup


def backups_apply_retention(*, days: int | None = None) -> list[str]:
    """Delete backups (files, checksums and records) older than BACKUP_RETENTION_DAYS, never the newest
    verified one nor the newest completed one; the names of the files removed."""
    cutoff = timezone.now() - timedelta(days=retention_days() if days is None else days)
    newest = Backup.objects.order_by("-started_at").values_list("pk", flat=True)
    keep = {pk for pk in (newest.filter(status=Backup.Status.VERIFIED).first(), newest.filter(status__in=GOOD).first())
            if pk is not None}
    removed = []
    expired = Backup.objects.filter(started_at__lt=cutoff).exclude(status=Backup.Status.RUNNING).exclude(pk__in=keep)
    for backup in expired.order_by("started_at"):
        if backup.file:
            path = Path(backup.file)
            path.unlink(missing_ok=True)
            checksum_path(path).unlink(missing_ok=True)
            removed.append(path.name)
        backup.delete()
    return removed


# --- verification -------------------------------------------------------------------------------


class BackupVerificationFailed(MaintenanceError):
    reported = True  # logged, counted and sent to Sentry where it is raised


def scratch_database_name(backup: Backup) -> str:
    return f"{pg.database_name()}_verify_{backup.pk}"[-63:]


def _create_scratch(conn: psycopg.Connection, name: str) -> None:
    encoding, collate, ctype = conn.execute(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    # template0: an empty database whatever was added to template1; the source's encoding and locale.
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
        sql.Identifier(name), sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)))


def _restored_counts(backup: Backup, scratch: str) -> dict[str, int | None]:
    with pg.connect() as conn:
        major, _ = pg.server_version(conn)
        pg_restore = pg.find_tool("pg_restore", major)
        _create_scratch(conn, scratch)
    try:
        pg.run_tool([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={scratch}",
                     backup.file], env=pg.tool_env(scratch))
        with pg.connect(scratch) as conn:
            present = set(pg.emma_tables(conn))
            counts = pg.count_rows(conn, [table for table in backup.row_counts if table in present])
        return {table: counts.get(table) for table in backup.row_counts}
    finally:
        with pg.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))


def backup_verify(*, backup_id: int) -> Backup:
    """Restore a completed backup into a scratch database, compare the row counts of Emma's tables with
    those at dump time, drop the scratch database, and mark the backup verified or failed. A failure is
    an error in the logs, `emma_backup_verifications_total{outcome="failed"}` and Sentry, and is raised."""
    backup = Backup.objects.get(pk=backup_id)
    if backup.status != Backup.Status.COMPLETED:
        return backup  # verified already, failed, or still being written
    clock = time.monotonic()
    try:
        checksum_verify(Path(backup.file), expected=backup.sha256)
        if not backup.row_counts:
            raise MaintenanceError("the backup recorded no row counts to compare")
        restored = _restored_counts(backup, scratch_database_name(backup))
        differences = {table: {"at_dump": expected, "restored": restored[table]}
                       for table, expected in backup.row_counts.items() if restored[table] != expected}
        if differences:
            listed = ", ".join(f"{table} {d['at_dump']}→{d['restored']}" for table, d in sorted(differences.items()))
            raise MaintenanceError(f"row counts differ after restore: {listed}")
    except Exception as exc:
        reason = str(exc)
        Backup.objects.filter(pk=backup.pk, status=Backup.Status.COMPLETED).update(
            status=Backup.Status.FAILED, error=f"verification failed: {reason}"[:4000])
        BACKUP_VERIFICATIONS.labels(outcome="failed").inc()
        message = f"backup {backup.pk} ({Path(backup.file).name}) failed verification: {reason}"
        logger.error(message, exc_info=True, extra={"backup_id": backup.pk})
        sentry_sdk.capture_message(message, level="error")
        raise BackupVerificationFailed(message) from exc
    Backup.objects.filter(pk=backup.pk, status=Backup.Status.COMPLETED).update(
        status=Backup.Status.VERIFIED, verified_at=timezone.now(), error="")
    BACKUP_VERIFICATIONS.labels(outcome="verified").inc()
    backup.refresh_from_db()
    logger.info("backup %s verified by a restore in %.1f s", backup.pk, time.monotonic() - clock,
                extra={"backup_id": backup.pk})
    return backup


def backups_verify_later(*, backup_ids: list[int]) -> list[int]:
    """Queue the verification of those of these backups that are completed (the admin's "verify now");
    the ids queued."""
    from operations.tasks import verify_backup

    ids = list(Backup.objects.filter(pk__in=backup_ids, status=Backup.Status.COMPLETED).values_list("pk", flat=True))
    for backup_id in ids:
        verify_backup.apply_async((backup_id,), expires=3600)
    return ids


def backups_pending_verification() -> list[int]:
    """Completed backups not yet verified, newest first."""
    return list(Backup.objects.filter(status=Backup.Status.COMPLETED).order_by("-started_at")
                .values_list("pk", flat=True))
