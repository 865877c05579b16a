"""Celery tasks of the task lifecycle and of maintenance: thin, take ids, call a service."""

from celery import shared_task

from emma import services
from emma.maintenance import jobs
from emma.maintenance.runs import trigger_for


@shared_task(name="emma.execute_task", queue="agent", acks_late=True, reject_on_worker_lost=True)
def execute_task(task_id: str) -> str:
    """Run one agent task; a redelivered or duplicate message finds the task claimed and does nothing."""
    return services.task_execute(task_id=task_id)


@shared_task(name="emma.republish_stale_tasks", queue="default", expires=30)
def republish_stale_tasks() -> int:
    """Publish again the queued tasks whose message was lost (a broker outage after commit), and settle
    the tasks whose escalation closed while the hook that moves them was lost with its process."""
    return services.tasks_republish_stale() + services.tasks_settle_closed_escalations()


@shared_task(name="emma.reap_stuck_tasks", queue="default", expires=60)
def reap_stuck_tasks() -> int:
    """Queue again, or fail, the running tasks whose worker died or overran its time limit."""
    return services.tasks_reap_stuck()


# --- maintenance: on the maintenance queue, each run locked and recorded (emma.maintenance) --------
# Acknowledged on receipt: a job that outlived the broker's visibility timeout must not be handed to a
# second worker; a run lost with its worker is made up by the next tick (and the job's lock would stop
# a second copy anyway).
_LONG = {"queue": "maintenance", "acks_late": False, "soft_time_limit": 6 * 3600, "time_limit": 6 * 3600 + 60}


@shared_task(name="emma.backup_database", bind=True, **_LONG)
def backup_database(self) -> str:
    """Back the database up (pg_dump, checksum, record), apply retention, then queue its verification."""
    run = jobs.backup_job(trigger=trigger_for(self.request), reraise=False)
    if run.outcome == run.Outcome.SUCCESS:
        verify_backup.apply_async((run.figures["backup_id"],), expires=3600)
    return run.outcome


@shared_task(name="emma.verify_backup", bind=True, **_LONG)
def verify_backup(self, backup_id: int) -> str:
    """Restore one backup into a scratch database and compare its row counts; mark it verified or failed."""
    return jobs.verify_job(backup_ids=[backup_id], trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="emma.verify_pending_backups", bind=True, **_LONG)
def verify_pending_backups(self) -> str:
    """Verify every completed backup that no verification has reached yet (the chain's safety net)."""
    return jobs.verify_job(trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="emma.prune_logs", bind=True, **_LONG)
def prune_logs(self, days: int | None = None) -> str:
    """Delete log data older than LOG_RETENTION_DAYS in short batches; never the audit chain."""
    return jobs.prune_job(days=days, trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="emma.vacuum_database", bind=True, **_LONG)
def vacuum_database(self) -> str:
    """VACUUM (ANALYZE) Emma's tables outside any transaction, recording each table's duration."""
    return jobs.vacuum_job(trigger=trigger_for(self.request), reraise=False).outcome


@shared_task(name="emma.prune_expired_memories", bind=True, queue="maintenance", acks_late=False, expires=600)
def prune_expired_memories(self) -> str:
    """Delete expired semantic memory items, as a locked and recorded maintenance run."""
    return jobs.prune_expired_memories_job(trigger=trigger_for(self.request), reraise=False).outcome
