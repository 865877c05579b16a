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

import hashlib
import json
import re
from dataclasses import dataclass, field, replace

from django.db import transaction

_MARKER = re.compile(r"^emma-default: ([0-9a-f]{16})$", re.MULTILINE)
_CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict = field(default_factory=dict)  # minute, hour, day_of_week, day_of_month, month_of_year (UTC)
    expires_seconds: int | None = None
    queue: str | None = None
    description: str = ""
    # Earlier defaults of this job, as the fields that differed: rows still equal to one are updated.
    previous: tuple[dict, ...] = ()

    def spec(self) -> dict:
        if self.every_seconds:
            schedule = {"every": self.every_seconds, "period": "seconds"}
        else:
            schedule = {name: str(self.crontab.get(name, "*")) for name in _CRONTAB_FIELDS} | {"timezone": "UTC"}
        return {"task": self.task, "schedule": schedule, "expire_seconds": self.expires_seconds,
                "queue": self.queue or None, "args": [], "kwargs": {}, "enabled": True}

    def fingerprint(self) -> str:
        return fingerprint(self.spec())

    def previous_fingerprints(self) -> set[str]:
        return {replace(self, previous=(), **fields).fingerprint() for fields in self.previous}


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("escalation sweep", "governance.expire_escalations", every_seconds=5, expires_seconds=10,
                queue="escalations",
                description="Escalations past their deadline move to the next tier, or to the final outcome."),
    PeriodicJob("republish stale tasks", "emma.republish_stale_tasks", every_seconds=15, expires_seconds=30,
                description="Queued tasks whose message was lost (a broker outage after commit) are published again."),
    PeriodicJob("stuck-task reaper", "emma.reap_stuck_tasks", every_seconds=60, expires_seconds=60,
                description="Running tasks whose worker vanished or overran are queued again, or failed."),
    PeriodicJob("prune expired memories", "emma.prune_expired_memories", every_seconds=3600, expires_seconds=600,
                queue="maintenance", description="Semantic memory items past their expiry are deleted.",
                previous=({"task": "memory.prune_expired"},)),
    PeriodicJob("database backup", "emma.backup_database", crontab={"minute": "30", "hour": "2"},
                expires_seconds=6 * 3600, queue="maintenance",
                description="pg_dump into BACKUP_DIR with a checksum; backups past BACKUP_RETENTION_DAYS are "
                            "deleted (never the newest good one); the new backup's verification is queued."),
    PeriodicJob("backup verification", "emma.verify_pending_backups", every_seconds=3600, expires_seconds=1800,
                queue="maintenance",
                description="Any completed backup not verified yet is restored into a scratch database and its "
                            "row counts compared (each backup also queues its own verification)."),
    PeriodicJob("log pruning", "emma.prune_logs", crontab={"minute": "30", "hour": "3"}, expires_seconds=3 * 3600,
                queue="maintenance",
                description="Task events, episodic memory, message logs and maintenance runs older than "
                            "LOG_RETENTION_DAYS are deleted in batches; the audit chain is kept."),
    PeriodicJob("vacuum", "emma.vacuum_database", crontab={"minute": "0", "hour": "4", "day_of_week": "0"},
                expires_seconds=6 * 3600, queue="maintenance",
                description="VACUUM (ANALYZE) of Emma's tables, every Sunday."),
    PeriodicJob("send due messages", "integrations.send_due_messages", every_seconds=5, expires_seconds=10,
                queue="integrations",
                description="Outbound messages whose send was lost are published again; sends whose worker died "
                            "are settled (edits queued again, posts failed as outcome unknown)."),
    PeriodicJob("republish webhook deliveries", "integrations.republish_deliveries", every_seconds=30,
                expires_seconds=30, queue="integrations",
                description="Webhook deliveries still unprocessed a minute after they arrived are published again."),
]


def fingerprint(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


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
    row.args, row.kwargs, row.enabled, row.one_off = "[]", "{}", True, False
    row.description = f"{job.description}\n\nemma-default: {job.fingerprint()}".lstrip()
    row.save()


@transaction.atomic
def periodic_tasks_sync(jobs: list[PeriodicJob] | None = None) -> dict[str, list[str]]:
    """Create the missing default periodic tasks and bring untouched ones to the current defaults,
    leaving those an operator changed as they are; the job names by what happened to them."""
    from django_celery_beat.models import PeriodicTask

    result = {"created": [], "updated": [], "unchanged": [], "kept": []}
    for job in PERIODIC_JOBS if jobs is None else jobs:
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
