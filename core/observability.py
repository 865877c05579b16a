"""Correlation ids, log context and Celery task metrics: one id follows a request into its tasks."""

import contextvars
import logging
import re
import time
import uuid

from celery import signals
from celery._state import get_current_task
from prometheus_client import Counter, Histogram

# Not "correlation_id": Celery already uses that name for the task id in every message.
CORRELATION_HEADER = "emma_correlation_id"
_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

CELERY_TASKS = Counter("emma_celery_tasks_total", "Celery tasks finished, by task name and state.",
                       ["task_name", "state"])
CELERY_TASK_DURATION = Histogram("emma_celery_task_duration_seconds", "Celery task run time.", ["task_name"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def clean_correlation_id(value: str | None) -> str:
    """The caller's id when it is a sane token, else a new one (a header is outside input)."""
    if value and _VALID_ID.match(value):
        return value
    return new_correlation_id()


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> contextvars.Token:
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)


class LogContextFilter(logging.Filter):
    """Adds the correlation id, and inside a Celery task its id and name, to every log record."""

    def filter(self, record):
        record.correlation_id = _correlation_id.get()
        task = get_current_task()
        if task is not None and task.request.id:
            record.task_id = task.request.id
            record.task_name = task.name
        return True


_task_started: dict[str, float] = {}


def _on_before_publish(headers=None, **_):
    correlation_id = _correlation_id.get()
    if headers is not None and correlation_id and CORRELATION_HEADER not in headers:
        headers[CORRELATION_HEADER] = correlation_id


def _on_task_prerun(task_id=None, task=None, **_):
    correlation_id = task.request.get(CORRELATION_HEADER)
    _correlation_id.set(correlation_id)
    _task_started[task_id] = time.perf_counter()


def _on_task_postrun(task_id=None, task=None, state=None, **_):
    started = _task_started.pop(task_id, None)
    CELERY_TASKS.labels(task_name=task.name, state=state or "UNKNOWN").inc()
    if started is not None:
        CELERY_TASK_DURATION.labels(task_name=task.name).observe(time.perf_counter() - started)
    _correlation_id.set(None)


def _on_worker_process_shutdown(pid=None, **_):
    import os

    from django.conf import settings

    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def connect_celery_signals() -> None:
    signals.before_task_publish.connect(_on_before_publish, weak=False, dispatch_uid="emma.correlation.publish")
    signals.task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="emma.correlation.prerun")
    signals.task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="emma.correlation.postrun")
    signals.worker_process_shutdown.connect(_on_worker_process_shutdown, weak=False,
                                            dispatch_uid="emma.metrics.process_shutdown")
