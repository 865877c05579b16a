"""Drafting's Celery tasks: thin, each calls a service. The sweeps make up for hooks lost when a process
died right after a commit (governance's escalation closed, emma's task ended)."""

from celery import shared_task

from core.registries import PeriodicJob
from drafting import assist, publishing, reviews


@shared_task(name="drafting.apply_assist", acks_late=True, reject_on_worker_lost=True)
def apply_assist(task_id: str) -> bool:
    """Apply a finished agent run's answer to the draft it was asked for; once (assist.assist_apply's guard)."""
    return assist.assist_apply(task_id=task_id) is not None


@shared_task(name="drafting.settle_assists", expires=30)
def settle_assists() -> int:
    """Agent help whose run ended without its hook: the answer applied (the hook's code, once)."""
    return assist.assists_settle_lost()


@shared_task(name="drafting.settle_reviews", expires=30)
def settle_reviews() -> int:
    """Reviews still open although their escalation closed: apply the outcome (the hook's code, once)."""
    return reviews.reviews_settle_lost()


@shared_task(name="drafting.settle_publications", expires=30)
def settle_publications() -> int:
    """Publications whose task ended without their hook, or whose Slack message was sent late: settled."""
    return publishing.publications_settle_lost()


PERIODIC_JOBS = [
    PeriodicJob("settle draft assists", "drafting.settle_assists", every_seconds=30, expires_seconds=30,
                description="Agent help whose run ended over 30 s ago but whose answer was not applied (the run's "
                            "hook was lost) is applied."),
    PeriodicJob("settle draft reviews", "drafting.settle_reviews", every_seconds=30, expires_seconds=30,
                description="Draft reviews whose escalation was decided over 30 s ago but are still open (the "
                            "decision's hook was lost) get the outcome applied."),
    PeriodicJob("settle draft publications", "drafting.settle_publications", every_seconds=30, expires_seconds=30,
                description="Publications whose drafting.publish task ended without settling them, or whose Slack "
                            "message the outbox sent after the task gave up, are settled."),
]
