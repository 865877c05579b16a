from celery import shared_task

from core.registries import PeriodicJob
from governance import services


@shared_task(name="governance.expire_escalations", queue="escalations", expires=10)
def expire_escalations() -> int:
    """Remind the approvers of escalations whose reminder time came, and time out due escalations (next tier
    or final outcome). Safe with several workers or beats: each escalation is locked, re-checked and moved
    (or reminded) once."""
    services.escalations_remind_due()
    return services.escalations_expire_due()


PERIODIC_JOBS = [
    PeriodicJob("escalation sweep", "governance.expire_escalations", every_seconds=5, expires_seconds=10,
                queue="escalations",
                description="Escalations past their deadline move to the next tier, or to the final outcome; "
                            "approvers who have not answered are reminded before a tier's deadline."),
]
