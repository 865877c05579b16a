"""Tasks that exist only for the tests' worker (loaded with `celery worker -I tests.celery_tasks`)."""

import logging

from celery import shared_task

logger = logging.getLogger("tests.celery_tasks")


@shared_task(name="tests.log_message", queue="default")
def log_message(text):
    logger.info("test task says %s", text)
    return text



# --- task types that exist only in tests -------------------------------------------------------
import time  # noqa: E402

import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from emma.registry import RetryableError, task_type  # noqa: E402


def side_effects():
    """A counter outside the database, as an external side effect would be."""
    return redis.Redis.from_url(settings.REDIS_URL)


@task_type("test.flaky", risk="low", max_attempts=4, time_limit=30, schema={"type": "object"})
def flaky(ctx, parameters):
    if ctx.attempt < parameters.get("succeed_on", 1):
        raise RetryableError(f"transient failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


@task_type("test.slow", risk="low", max_attempts=2, time_limit=2, schema={"type": "object"})
def slow(ctx, parameters):
    time.sleep(parameters.get("seconds", 10))
    return {"done": True}


@task_type("test.counted", risk="low", max_attempts=3, time_limit=60, schema={"type": "object"})
def counted(ctx, parameters):
    """Sleeps, then records one completion: a second run would show as a count of 2."""
    deadline = time.monotonic() + parameters.get("seconds", 0)
    while time.monotonic() < deadline:
        time.sleep(0.05)
    side_effects().incr(f"emma-test:completions:{ctx.task_id}")
    return {"done": True}
