"""Drafting's Celery tasks: thin, named, idempotent (each re-reads its rows and calls a service)."""

from celery import shared_task

from drafting import assist


@shared_task(name="drafting.apply_assist", acks_late=True, reject_on_worker_lost=True)
def apply_assist(task_id: str) -> bool:
    """Apply a finished agent run's answer to the draft it was asked for; once (assist.assist_apply's guard)."""
    return assist.assist_apply(task_id=task_id) is not None
