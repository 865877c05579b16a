"""Handing work to the broker, the same way everywhere: a row records that the work is due, the message
is published after commit, and a publish that fails (the broker is down) is logged and left to the
owning app's sweep, which publishes every due row again."""

import logging
import random

from django.conf import settings

logger = logging.getLogger(__name__)


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential with equal jitter: half the step fixed, half random; capped (the house rule is no
    countdown over a minute: deadlines longer than that live in PostgreSQL)."""
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


def broker_priority(priority: int) -> int:
    """An Emma priority (1 most urgent, 10 least) on the broker's own scale: Redis empties its lowest
    step first (0-9); RabbitMQ delivers the highest first (0 to x-max-priority)."""
    if settings.CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
        return max(0, 10 - priority)
    return min(max(priority - 1, 0), 9)


def publish(task, *args, countdown: float = 0, **options) -> bool:
    """task.apply_async(args); False (logged, never raised) when the broker could not take it."""
    try:
        task.apply_async(args=list(args), countdown=round(countdown, 3) if countdown > 0 else None, **options)
        return True
    except Exception:
        # Only the name: arguments may be secret (an account email's link), and ids are in the row to sweep.
        logger.exception("could not publish %s; its sweep will publish it again", task.name)
        return False
