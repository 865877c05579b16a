"""Celery tasks of memory: thin, take ids, call a service."""

from celery import shared_task

from core.registries import PeriodicJob
from memory import services


@shared_task(name="memory.bulk_store", queue="default", acks_late=True, reject_on_worker_lost=True)
def bulk_store(job_id: str) -> str:
    """Store a bulk job's items, reporting progress on its row; a redelivered message resumes it."""
    return services.memory_bulk_run(job_id=job_id)


PERIODIC_JOBS = [
    # A maintenance run like the others (locked, recorded), of the job registered in MemoryConfig.ready.
    PeriodicJob("prune expired memories", "operations.run_maintenance_job", args=("prune_expired_memories",),
                every_seconds=3600, expires_seconds=600, queue="maintenance",
                previous=({"task": "emma.prune_expired_memories", "args": ()}, {"task": "memory.prune_expired", "args": ()}),
                description="Semantic memory items past their expiry are deleted."),
]
