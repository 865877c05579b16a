from celery import shared_task

from governance import services


@shared_task(name="governance.expire_escalations", queue="escalations", expires=10)
def expire_escalations() -> int:
    """Time out due escalations (next tier or final outcome). Safe with several workers or beats:
    each escalation is locked, re-checked and moved once."""
    return services.escalations_expire_due()
