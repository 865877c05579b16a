"""Every maintenance job runs through `run_job`: it takes the job's lock, skips a schedule tick that
another beat already ran, records the run with its figures, and counts it in the metrics.

Two beat processes (a misconfiguration, or two during a rolling deploy) each send every job. The copy
that arrives while the first runs finds the lock taken; a copy that arrives after the first finished
finds a run of the same periodic task started within half the schedule's period. Either way it is
recorded as `skipped` and does nothing."""

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise

import sentry_sdk
from django.utils import timezone

from operations.locks import job_lock
from operations.metrics import MAINTENANCE_RUNS
from operations.models import MaintenanceRun

logger = logging.getLogger("operations")

BEAT_TRIGGER = "beat:"
_PERIOD_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}


def trigger_for(request) -> str:
    """How a Celery task came to run: `beat:<periodic task>` (beat, or the admin's "run selected tasks")
    when django-celery-beat named it in the message's headers, else `task`."""
    name = getattr(request, "periodic_task_name", None)  # message headers become attributes of the request
    return f"{BEAT_TRIGGER}{name}" if name else "task"


def schedule_period(periodic_task) -> timedelta | None:
    """The shortest gap between two ticks of a periodic task's schedule (None for one-off schedules)."""
    if periodic_task.interval_id:
        interval = periodic_task.interval
        return timedelta(seconds=interval.every * _PERIOD_SECONDS[interval.period])
    if periodic_task.crontab_id:
        cron = periodic_task.crontab.schedule
        minutes = sorted(hour * 60 + minute for hour in cron.hour for minute in cron.minute)
        gaps = [later - earlier for earlier, later in pairwise(minutes)]
        gaps.append(24 * 60 - minutes[-1] + minutes[0])  # to the first tick of the next day
        return timedelta(minutes=min(gaps))
    return None


def _same_tick_run(job: str, trigger: str) -> MaintenanceRun | None:
    """A run of the same periodic task started within half its schedule's period: that tick's run."""
    if not trigger.startswith(BEAT_TRIGGER):
        return None
    from django_celery_beat.models import PeriodicTask

    periodic_task = (PeriodicTask.objects.select_related("interval", "crontab")
                     .filter(name=trigger[len(BEAT_TRIGGER):]).first())
    period = schedule_period(periodic_task) if periodic_task else None
    if not period:
        return None
    return (MaintenanceRun.objects.filter(job=job, trigger=trigger, started_at__gte=timezone.now() - period / 2)
            .exclude(outcome=MaintenanceRun.Outcome.SKIPPED).order_by("-started_at").first())


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _finish(run: MaintenanceRun, outcome: str, figures: dict, error: str = "") -> None:
    run.outcome, run.figures, run.error, run.finished_at = outcome, figures, error, timezone.now()
    run.save(update_fields=["outcome", "figures", "error", "finished_at"])
    MAINTENANCE_RUNS.labels(job=run.job, outcome=outcome).inc()


def record_skipped(job: str, trigger: str, note: str) -> MaintenanceRun:
    now = timezone.now()
    run = MaintenanceRun.objects.create(job=job, trigger=trigger, outcome=MaintenanceRun.Outcome.SKIPPED,
                                        started_at=now, finished_at=now, note=note[:500], host=_host())
    MAINTENANCE_RUNS.labels(job=job, outcome=MaintenanceRun.Outcome.SKIPPED).inc()
    logger.info("maintenance job %s skipped: %s", job, note, extra={"job": job, "trigger": trigger})
    return run


def record_run(job: str, *, trigger: str, started_at, outcome: str, figures: dict, error: str = "") -> MaintenanceRun:
    """Record a run after the fact (a restore, which replaces the table the run would have been in)."""
    run = MaintenanceRun.objects.create(job=job, trigger=trigger, outcome=outcome, started_at=started_at,
                                        finished_at=timezone.now(), figures=figures, error=error, host=_host())
    MAINTENANCE_RUNS.labels(job=job, outcome=outcome).inc()
    return run


def run_job(job: str, work: Callable[[dict], object], *, trigger: str = "command",
            reraise: bool = True) -> MaintenanceRun:
    """Run `work(figures)` as one recorded run of `job`, holding the job's lock; `work` fills `figures`
    (rows deleted, bytes written...). A failure is recorded, logged at error level and sent to Sentry,
    then raised again (`reraise`) or left in the run's record for the caller to read."""
    with job_lock(job) as held:
        if not held:
            return record_skipped(job, trigger, "another run of this job holds its lock")
        previous = _same_tick_run(job, trigger)
        if previous is not None:
            return record_skipped(job, trigger, f"run {previous.pk} of the same schedule started at "
                                                f"{previous.started_at:%Y-%m-%d %H:%M:%S} UTC, within half its period")
        # Holding the lock, no other run of the job is alive: a run still marked running died with its process.
        MaintenanceRun.objects.filter(job=job, outcome=MaintenanceRun.Outcome.RUNNING).update(
            outcome=MaintenanceRun.Outcome.FAILED, finished_at=timezone.now(),
            error="interrupted: its process ended before the run finished")
        run = MaintenanceRun.objects.create(job=job, trigger=trigger, started_at=timezone.now(), host=_host())
        figures: dict = {}
        try:
            work(figures)
        except BaseException as exc:
            _finish(run, MaintenanceRun.Outcome.FAILED, figures, error=f"{type(exc).__name__}: {exc}"[:4000])
            logger.error("maintenance job %s failed: %s", job, exc, exc_info=not getattr(exc, "reported", False),
                         extra={"job": job, "trigger": trigger, "run_id": run.pk})
            if isinstance(exc, Exception) and not getattr(exc, "reported", False):
                sentry_sdk.capture_exception(exc)
            if reraise or not isinstance(exc, Exception):
                raise
            return run
        _finish(run, MaintenanceRun.Outcome.SUCCESS, figures)
        logger.info("maintenance job %s succeeded", job, extra={"job": job, "trigger": trigger, "figures": figures})
        return run


def failure_line(run: MaintenanceRun) -> str:
    """Why a run did not succeed, on one line (for a command's stderr)."""
    text = run.error or run.note or f"{run.job} {run.outcome}"
    return " ".join(text.split())
