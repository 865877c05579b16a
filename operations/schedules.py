"""The periodic jobs beat runs, as defaults, and how `setup_periodic_tasks` keeps the database's
schedules (django-celery-beat's PeriodicTask rows) in line with them without undoing an operator.

Each row written from a default carries that default's fingerprint on the last line of its
description (`emma-default: <hash of task, schedule, expiry, queue, arguments, enabled>`). On each run:
- a missing row is created;
- a row whose settings still hash to the fingerprint it carries was left alone since Emma wrote it, so
  it is brought to the current default (a default that changed between releases reaches it);
- a row whose settings no longer hash to its fingerprint was changed by an operator: it is kept as is,
  for good (put the fingerprint line back by hand, or delete the row, to hand it back to Emma);
- a row without a fingerprint (written before fingerprints) counts as untouched when it equals the current
  default or one of the job's `previous` defaults, and as changed otherwise.
Crontab schedules are in UTC; every job has an expiry, so a message beat sent while no worker was
there is dropped rather than run late in a burst."""

import json
import re

from django.db import transaction

from core.registries import CRONTAB_FIELDS as _CRONTAB_FIELDS
from core.registries import PeriodicJob, fingerprint, periodic_jobs

_MARKER = re.compile(r"^emma-default: ([0-9a-f]{16})$", re.MULTILINE)


def row_spec(row) -> dict:
    """A PeriodicTask's settings in the shape of `PeriodicJob.spec()`."""
    if row.interval_id:
        schedule = {"every": row.interval.every, "period": row.interval.period}
    elif row.crontab_id:
        schedule = {name: getattr(row.crontab, name) for name in _CRONTAB_FIELDS} | {
            "timezone": str(row.crontab.timezone)}
    else:
        schedule = {"solar": row.solar_id, "clocked": row.clocked_id}
    return {"task": row.task, "schedule": schedule, "expire_seconds": row.expire_seconds, "queue": row.queue or None,
            "args": json.loads(row.args or "[]"), "kwargs": json.loads(row.kwargs or "{}"),
            "enabled": row.enabled and not row.one_off}


def recorded_fingerprint(description: str) -> str | None:
    found = _MARKER.findall(description or "")
    return found[-1] if found else None


def _apply(row, job: PeriodicJob):
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    row.interval = row.crontab = row.solar = row.clocked = None
    if job.every_seconds:
        fields = {"every": job.every_seconds, "period": IntervalSchedule.SECONDS}
        row.interval = IntervalSchedule.objects.filter(**fields).first() or IntervalSchedule.objects.create(**fields)
    else:
        fields = {name: str(job.crontab.get(name, "*")) for name in _CRONTAB_FIELDS}
        row.crontab = CrontabSchedule.objects.filter(timezone="UTC", **fields).first() or \
            CrontabSchedule.objects.create(timezone="UTC", **fields)
    row.task, row.expire_seconds, row.queue = job.task, job.expires_seconds, job.queue
    row.args, row.kwargs, row.enabled, row.one_off = json.dumps(list(job.args)), "{}", True, False
    row.description = f"{job.description}\n\nemma-default: {job.fingerprint()}".lstrip()
    row.save()


@transaction.atomic
def periodic_tasks_sync(jobs: list[PeriodicJob] | None = None) -> dict[str, list[str]]:
    """Create the missing default periodic tasks and bring untouched ones to the current defaults,
    leaving those an operator changed as they are; the job names by what happened to them."""
    from django_celery_beat.models import PeriodicTask

    result = {"created": [], "updated": [], "unchanged": [], "kept": []}
    for job in periodic_jobs() if jobs is None else jobs:
        row = (PeriodicTask.objects.select_for_update(of=("self",)).select_related("interval", "crontab")
               .filter(name=job.name).first())
        if row is None:
            _apply(PeriodicTask(name=job.name), job)
            result["created"].append(job.name)
            continue
        current, recorded = fingerprint(row_spec(row)), recorded_fingerprint(row.description)
        default = job.fingerprint()
        untouched = current == recorded if recorded else current in {default} | job.previous_fingerprints()
        if not untouched:
            result["kept"].append(job.name)
        elif current == default and recorded == default:
            result["unchanged"].append(job.name)
        else:
            _apply(row, job)
            result["unchanged" if current == default else "updated"].append(job.name)
    return result
