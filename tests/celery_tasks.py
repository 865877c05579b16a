"""Tasks that exist only for the tests' worker (loaded with `celery worker -I tests.celery_tasks`)."""

import logging

from celery import shared_task

logger = logging.getLogger("tests.celery_tasks")


@shared_task(name="tests.log_message", queue="default")
def log_message(text):
    logger.info("test task says %s", text)
    return text

