"""How emma sets off work in the layers above it without importing them.

Those layers register their handlers at start-up (AppConfig.ready); emma calls them after the
transaction that moved a task to a final status commits, so a handler never sees an outcome that could
still roll back, and a failing handler never undoes it. A handler should only hand work to a queue:
it runs in the thread that finished the task (a worker, a request, a sweep)."""

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

_finished: list[Callable] = []


def register_on_task_finished(handler: Callable) -> None:
    """handler(task_id=...) after a task's move to a final status committed."""
    if handler not in _finished:
        _finished.append(handler)


def _call_each(task_id) -> None:
    for handler in _finished:
        try:
            handler(task_id=task_id)
        except Exception:  # one handler's failure must not keep the others from running
            logger.exception("task hook %s failed", getattr(handler, "__qualname__", handler))


def task_finished(*, task_id) -> None:
    """Run the finished handlers once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _call_each(task_id), robust=True)
