"""Celery tasks of the DORA metrics: thin, on the `integrations` queue."""

from celery import shared_task

from core.registries import PeriodicJob
from integrations.dora import digest


@shared_task(name="integrations.send_dora_digests", queue="integrations", expires=1800)
def send_dora_digests() -> int:
    """Post each enabled tenant's DORA digest of last week, once (digest.digest_send claims the week)."""
    return digest.digests_send()


PERIODIC_JOBS = [
    PeriodicJob("DORA weekly digests", "integrations.send_dora_digests", crontab={"minute": "17"},
                expires_seconds=1800, queue="integrations",
                description="Every hour: each enabled DORA digest whose last full week (Monday to Sunday, UTC) is "
                            "not sent yet posts that week's four figures and their change from the week before."),
]
