"""Celery tasks of the task lifecycle: thin, take ids, call a service."""

from celery import shared_task

from core.registries import PeriodicJob
from emma import callbacks, services


@shared_task(name="emma.execute_task", queue="agent", acks_late=True, reject_on_worker_lost=True)
def execute_task(task_id: str, task_type: str | None = None) -> str:
    """Run one agent task; a redelivered or duplicate message finds the task claimed and does nothing."""
    return services.task_execute(task_id=task_id, task_type=task_type)


@shared_task(name="emma.republish_stale_tasks", queue="default", expires=30)
def republish_stale_tasks() -> int:
    """Publish again the queued tasks whose message was lost (a broker outage after commit), and settle
    the tasks whose escalation closed while the hook that moves them was lost with its process."""
    return services.tasks_republish_stale() + services.tasks_settle_closed_escalations()


@shared_task(name="emma.reap_stuck_tasks", queue="default", expires=60)
def reap_stuck_tasks() -> int:
    """Queue again, or fail, the running tasks whose worker died or overran its time limit."""
    return services.tasks_reap_stuck()


@shared_task(name="emma.send_callback", queue="default", acks_late=True, reject_on_worker_lost=True)
def send_callback(delivery_id: str) -> str:
    """Make a completion callback's due attempt; a duplicate message finds it claimed, settled or not yet due."""
    return callbacks.callback_send(delivery_id=delivery_id)


@shared_task(name="emma.send_due_callbacks", queue="default", expires=10)
def send_due_callbacks() -> dict:
    """Publish the completion callbacks that are due, settle those whose sender died, and create those
    whose hook was lost."""
    return callbacks.callbacks_send_due()


PERIODIC_JOBS = [
    PeriodicJob("republish stale tasks", "emma.republish_stale_tasks", every_seconds=15, expires_seconds=30,
                description="Queued tasks whose message was lost (a broker outage after commit) are published again; "
                            "tasks whose escalation closed while its hook was lost are settled."),
    PeriodicJob("stuck-task reaper", "emma.reap_stuck_tasks", every_seconds=60, expires_seconds=60,
                description="Running tasks whose worker vanished or overran are queued again, or failed."),
    PeriodicJob("send due callbacks", "emma.send_due_callbacks", every_seconds=10, expires_seconds=10,
                description="Completion callbacks whose next attempt is due are published; a send whose worker "
                            "died counts as a failed attempt and the next is scheduled."),
]
