"""Celery tasks of memory: thin, take ids, call a service."""

from celery import shared_task

from memory import services


@shared_task(name="memory.bulk_store", queue="default", acks_late=True, reject_on_worker_lost=True)
def bulk_store(job_id: str) -> str:
    """Store a bulk job's items, reporting progress on its row; a redelivered message resumes it."""
    return services.memory_bulk_run(job_id=job_id)


@shared_task(name="memory.prune_expired", queue="maintenance", expires=600)
def prune_expired() -> int:
    """Delete expired semantic items (already hidden from every read since they expired)."""
    return services.memory_prune_expired()
