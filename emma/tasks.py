"""Celery tasks of the task lifecycle: thin, take ids, call a service."""

from celery import shared_task

from emma import services


@shared_task(name="emma.execute_task", queue="agent", acks_late=True, reject_on_worker_lost=True)
def execute_task(task_id: str) -> str:
    """Run one agent task; a redelivered or duplicate message finds the task claimed and does nothing."""
    return services.task_execute(task_id=task_id)


@shared_task(name="emma.republish_stale_tasks", queue="default", expires=30)
def republish_stale_tasks() -> int:
    """Publish again the queued tasks whose message was lost (a broker outage after commit)."""
    return services.tasks_republish_stale()


@shared_task(name="emma.reap_stuck_tasks", queue="default", expires=60)
def reap_stuck_tasks() -> int:
    """Queue again, or fail, the running tasks whose worker died or overran its time limit."""
    return services.tasks_reap_stuck()
