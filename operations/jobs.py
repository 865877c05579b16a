"""The maintenance jobs as the beat tasks and the management commands run them: each one a recorded,
locked run (operations.runs) around a service. Job names label the runs and the metrics."""

from core.registries import maintenance_job
from operations import backups
from operations.models import Backup, MaintenanceRun
from operations.retention import logs_prune
from operations.runs import run_job
from operations.vacuum import database_vacuum

BACKUP = "backup_database"
VERIFY = "verify_backup"
PRUNE = "prune_logs"
VACUUM = "vacuum_database"


def backup_job(*, trigger: str = "command", reraise: bool = True) -> MaintenanceRun:
    """Take a backup, then delete those past retention (never the newest good one)."""

    def work(figures):
        interrupted = backups.backups_mark_interrupted()
        backup = backups.backup_create()
        figures.update(backup_id=backup.pk, file=backup.file, size_bytes=backup.size_bytes, sha256=backup.sha256,
                       seconds=backup.duration_seconds, tables=len(backup.row_counts),
                       rows=sum(backup.row_counts.values()))
        if interrupted:
            figures["interrupted_backups_failed"] = interrupted
        figures["retention_removed"] = backups.backups_apply_retention()

    return run_job(BACKUP, work, trigger=trigger, reraise=reraise)


def verify_job(*, backup_ids: list[int] | None = None, trigger: str = "command",
               reraise: bool = True) -> MaintenanceRun:
    """Verify the given backups, or every completed one not yet verified, by a real restore."""

    def work(figures):
        verified, failed, failure = [], [], None
        for backup_id in backup_ids if backup_ids is not None else backups.backups_pending_verification():
            try:
                if backups.backup_verify(backup_id=backup_id).status == Backup.Status.VERIFIED:
                    verified.append(backup_id)
            except backups.BackupVerificationFailed as exc:
                failed.append(backup_id)
                failure = exc
        figures.update(verified=verified, failed=failed)
        if failure is not None:
            raise failure

    return run_job(VERIFY, work, trigger=trigger, reraise=reraise)


def prune_job(*, days: int | None = None, batch_size: int | None = None, pause: float = 0.0,
              trigger: str = "command", reraise: bool = True) -> MaintenanceRun:
    """Prune every registered kind of log data past retention, in batches."""
    return run_job(PRUNE, lambda figures: figures.update(logs_prune(days=days, batch_size=batch_size, pause=pause)),
                   trigger=trigger, reraise=reraise)


def vacuum_job(*, trigger: str = "command", reraise: bool = True) -> MaintenanceRun:
    """VACUUM (ANALYZE) Emma's tables, recording the seconds each took."""
    return run_job(VACUUM, lambda figures: figures.update(database_vacuum()), trigger=trigger, reraise=reraise)


def registered_job(name: str, *, trigger: str = "command", reraise: bool = True) -> MaintenanceRun:
    """A job another app declared with core.registries.register_maintenance_job."""
    return run_job(name, maintenance_job(name), trigger=trigger, reraise=reraise)
