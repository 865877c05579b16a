"""How emma sets off work in the layers above it without importing them.

Those layers register their handlers at start-up (AppConfig.ready); emma calls them after the
transaction that moved a task to a final status commits, so a handler never sees an outcome that could
still roll back, and a failing handler never undoes it. A handler should only hand work to a queue:
it runs in the thread that finished the task (a worker, a request, a sweep)."""

from collections.abc import Callable

from django.db import transaction

from core.hooks import call_each

_finished: list[Callable] = []


def register_on_task_finished(handler: Callable) -> None:
    """handler(task=...) after a task's move to a final status committed; the task as that move left it."""
    if handler not in _finished:
        _finished.append(handler)


def task_finished(*, task) -> None:
    """Run the finished handlers once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: call_each(_finished, task=task), robust=True)
