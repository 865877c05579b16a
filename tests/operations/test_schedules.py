"""setup_periodic_tasks: every default schedule, created or updated idempotently, never over an operator's change."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from core.registries import periodic_jobs
from operations import jobs, schedules
from operations.models import Backup

pytestmark = pytest.mark.django_db(transaction=True)

MAINTENANCE_TASKS = {"operations.backup_database", "operations.verify_pending_backups", "operations.prune_logs",
                     "operations.vacuum_database", "operations.run_maintenance_job"}


def sync(capsys=None) -> str:
    call_command("setup_periodic_tasks")
    return capsys.readouterr().out if capsys else ""


def test_every_default_is_created_with_an_expiry_and_crontabs_in_utc():
    sync()

    rows = {row.name: row for row in PeriodicTask.objects.select_related("crontab", "interval")}
    assert set(rows) == {job.name for job in periodic_jobs()}
    assert {row.task for row in rows.values()} >= MAINTENANCE_TASKS | {
        "governance.expire_escalations", "emma.reap_stuck_tasks"}
    for row in rows.values():
        assert row.expire_seconds and row.enabled
        if row.crontab:
            assert str(row.crontab.timezone) == "UTC"
        if row.task in MAINTENANCE_TASKS:
            assert row.queue == "maintenance"
    backup = rows["database backup"].crontab
    assert (backup.minute, backup.hour, backup.day_of_week) == ("30", "2", "*")
    assert (rows["vacuum"].crontab.hour, rows["vacuum"].crontab.day_of_week) == ("4", "0")
    assert rows["log pruning"].crontab.hour == "3"
    assert rows["escalation sweep"].interval.every == 5
    assert rows["stuck-task reaper"].interval.every == 60
    assert rows["prune expired memories"].interval.every == 3600
    assert rows["backup verification"].interval.every == 3600


def test_running_it_again_changes_nothing(capsys):
    sync()
    before = {row.name: row.date_changed for row in PeriodicTask.objects.all()}

    out = sync(capsys)

    assert f"0 created, 0 updated, {len(periodic_jobs())} unchanged, 0 kept" in out
    assert {row.name: row.date_changed for row in PeriodicTask.objects.all()} == before


def test_what_an_operator_changed_in_the_admin_stays_changed(capsys):
    sync()
    backup = PeriodicTask.objects.get(name="database backup")
    backup.crontab = CrontabSchedule.objects.create(minute="0", hour="5", timezone="UTC")
    backup.save()
    sweep = PeriodicTask.objects.get(name="escalation sweep")
    sweep.enabled = False
    sweep.save()

    out = sync(capsys)

    assert "kept as changed by an operator: escalation sweep, database backup" in out
    assert PeriodicTask.objects.get(name="database backup").crontab.hour == "5"
    assert PeriodicTask.objects.get(name="escalation sweep").enabled is False


def test_a_changed_default_reaches_rows_nobody_changed_and_only_those():
    sync()
    backup = PeriodicTask.objects.get(name="database backup")
    backup.expire_seconds = 60  # the operator's
    backup.save()
    changed = [replace(job, crontab={"minute": "15", "hour": "1"}) if job.name in ("log pruning", "database backup")
               else job for job in periodic_jobs()]

    schedules.periodic_tasks_sync(changed)

    pruning = PeriodicTask.objects.get(name="log pruning")
    assert (pruning.crontab.minute, pruning.crontab.hour) == ("15", "1")
    backup = PeriodicTask.objects.get(name="database backup")
    assert (backup.crontab.minute, backup.crontab.hour, backup.expire_seconds) == ("30", "2", 60)


def test_rows_from_before_fingerprints_are_updated_when_they_equal_an_earlier_default():
    hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    # As the first setup_periodic_tasks wrote it: no description, the memory app's own task.
    PeriodicTask.objects.create(name="prune expired memories", task="memory.prune_expired", interval=hourly,
                                expire_seconds=600, queue="maintenance", kwargs=json.dumps({}))
    every_15, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.SECONDS)
    every_30, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="republish stale tasks", task="emma.republish_stale_tasks", interval=every_15,
                                expire_seconds=30, kwargs=json.dumps({}))
    PeriodicTask.objects.create(name="stuck-task reaper", task="emma.reap_stuck_tasks", interval=every_30,
                                expire_seconds=60, kwargs=json.dumps({}))  # an operator's 30 s

    result = schedules.periodic_tasks_sync()

    memories = PeriodicTask.objects.get(name="prune expired memories")
    assert (memories.task, json.loads(memories.args)) == ("operations.run_maintenance_job", ["prune_expired_memories"])
    assert "prune expired memories" in result["updated"]
    assert "republish stale tasks" in result["unchanged"]
    assert "emma-default:" in PeriodicTask.objects.get(name="republish stale tasks").description
    assert result["kept"] == ["stuck-task reaper"]
    assert PeriodicTask.objects.get(name="stuck-task reaper").interval.every == 30


def test_the_admin_lists_every_schedule_and_the_operations_records(admin_client, backup_dir):
    sync()
    jobs.backup_job()
    jobs.vacuum_job()
    backup = Backup.objects.get()

    page = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert all(job.name in page for job in periodic_jobs())
    runs = admin_client.get("/admin/operations/maintenancerun/").content.decode()
    assert jobs.BACKUP in runs and jobs.VACUUM in runs and "success" in runs
    backups = admin_client.get("/admin/operations/backup/").content.decode()
    assert Path(backup.file).name in backups and "completed" in backups.lower()
    detail = admin_client.get(f"/admin/operations/backup/{backup.pk}/change/")
    assert detail.status_code == 200 and backup.sha256 in detail.content.decode()
