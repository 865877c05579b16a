"""Celery tasks of operations, on the maintenance queue: thin, each a locked and recorded run (operations.runs)."""

from celery import shared_task

from core.registries import PeriodicJob
from operations import jobs
from operations.runs import trigger_for

# Acknowledged on receipt: a job that outlived the broker's visibility timeout must not be handed to a
# second worker; a run lost with its worker is made up by the next tick (and the job's lock would stop
# a second copy anyway).
_LONG = {"queue": "maintenance", "acks_late": False, "soft_time_limit": 6 * 3600, "time_limit": 6 * 3600 + 60}


@shared_task(name="operations.backup_database", bind=True, **_LONG)
def backup_database(self) -> str:
    """Back the database up (pg_dump, checksum, record), apply retention, then queue its verification."""
    run = jobs.backup_job(trigger=trigger_for(self.request), reraise=False)
    if run.outcome == run.Outcome.SUCCESS:
        verify_backup.apply_async((run.figures["backup_id"],), expires=3600)
    return run.outcome


@shared_task(name="operations.verify_backup", bind=True, **_LONG)
def verify_backup(self, backup_id: int) -> str:
    """Restore one backup into a scratch database and compare its row counts; mark it verified or failed."""
    return jobs.verify_job(backup_ids=[backup_id], trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="operations.verify_pending_backups", bind=True, **_LONG)
def verify_pending_backups(self) -> str:
    """Verify every completed backup that no verification has reached yet (the chain's safety net)."""
    return jobs.verify_job(trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="operations.prune_logs", bind=True, **_LONG)
def prune_logs(self, days: int | None = None) -> str:
    """Delete log data older than LOG_RETENTION_DAYS in short batches; never the audit chain."""
    return jobs.prune_job(days=days, trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="operations.vacuum_database", bind=True, **_LONG)
def vacuum_database(self) -> str:
    """VACUUM (ANALYZE) Emma's tables outside any transaction, recording each table's duration."""
    return jobs.vacuum_job(trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="operations.run_maintenance_job", bind=True, **_LONG)
def run_maintenance_job(self, job: str) -> str:
    """Run a maintenance job another app registered (core.registries), locked and recorded."""
    return jobs.registered_job(job, trigger=trigger_for(self.request), reraise=False).outcome


PERIODIC_JOBS = [
    PeriodicJob("database backup", "operations.backup_database", crontab={"minute": "30", "hour": "2"},
                expires_seconds=6 * 3600, queue="maintenance", previous=({"task": "emma.backup_database"},),
                description="pg_dump into BACKUP_DIR with a checksum; backups past BACKUP_RETENTION_DAYS are "
                            "deleted (never the newest good one); the new backup's verification is queued."),
    PeriodicJob("backup verification", "operations.verify_pending_backups", every_seconds=3600, expires_seconds=1800,
                queue="maintenance", previous=({"task": "emma.verify_pending_backups"},),
                description="Any completed backup not verified yet is restored into a scratch database and its "
                            "row counts compared (each backup also queues its own verification)."),
    PeriodicJob("log pruning", "operations.prune_logs", crontab={"minute": "30", "hour": "3"},
                expires_seconds=3 * 3600, queue="maintenance", previous=({"task": "emma.prune_logs"},),
                description="Task events, episodic memory, message logs and maintenance runs older than "
                            "LOG_RETENTION_DAYS are deleted in batches; the audit chain is kept."),
    PeriodicJob("vacuum", "operations.vacuum_database", crontab={"minute": "0", "hour": "4", "day_of_week": "0"},
                expires_seconds=6 * 3600, queue="maintenance", previous=({"task": "emma.vacuum_database"},),
                description="VACUUM (ANALYZE) of Emma's tables, every Sunday."),
]
