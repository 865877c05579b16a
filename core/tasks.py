"""Sending account emails (invitations, verification, password reset), apart from the request that asked
for them (core.accounts queues them after commit)."""

import logging
import smtplib

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)


class SecretArgumentsTask(Task):
    """A task whose arguments hold secrets (an email's links): workers and monitors (logs, Flower) show only
    the recipient and subject, on every send and retry (each goes through apply_async)."""

    def apply_async(self, args=None, kwargs=None, **options):
        if args:
            options["argsrepr"] = repr([*args[:2], "<hidden>"])
        return super().apply_async(args, kwargs, **options)


@shared_task(name="core.send_account_email", base=SecretArgumentsTask, queue="default", bind=True, acks_late=True,
             reject_on_worker_lost=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True,
             retry_backoff_max=60, retry_jitter=True, max_retries=6)
def send_account_email(self, to: str, subject: str, body: str) -> None:
    """Send one plain-text email through Django's backend (EMAIL_URL). An SMTP error or a refused or timed
    out connection is tried again with exponential backoff (up to a minute apart, six times)."""
    EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]).send()
    logger.info("account email sent", extra={"subject": subject})


@shared_task(name="core.mail_password_reset", queue="default", acks_late=True, reject_on_worker_lost=True)
def mail_password_reset(email: str, base_url: str) -> None:
    """Look for the accounts of a password reset request's address, and queue their reset mails."""
    from core import accounts

    accounts.password_reset_mail(email=email, base_url=base_url)
