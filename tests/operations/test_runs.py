"""Every maintenance run is locked, recorded and counted; a second run of the same tick is skipped."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from prometheus_client import REGISTRY

from operations import jobs
from operations.locks import job_lock
from operations.metrics import maintenance_collector
from operations.models import MaintenanceRun
from operations.runs import run_job, schedule_period

pytestmark = pytest.mark.django_db(transaction=True)


def runs_counted(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("emma_maintenance_runs_total", {"job": job, "outcome": outcome}) or 0.0


def periodic_task(name: str, task: str, **schedule) -> PeriodicTask:
    return PeriodicTask.objects.create(name=name, task=task, **schedule)


def test_a_run_records_job_times_outcome_and_figures():
    run = run_job("test_job", lambda figures: figures.update(rows_deleted=7, bytes_written=1024))

    run.refresh_from_db()
    assert run.outcome == MaintenanceRun.Outcome.SUCCESS and run.trigger == "command"
    assert run.figures == {"rows_deleted": 7, "bytes_written": 1024}
    assert run.started_at <= run.finished_at and run.host


def test_a_failing_run_is_recorded_with_its_error_and_raised():
    def work(figures):
        figures["done"] = 1
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run_job("test_job", work)
    run = MaintenanceRun.objects.get(job="test_job")
    assert run.outcome == MaintenanceRun.Outcome.FAILED and run.error == "RuntimeError: disk full"
    assert run.figures == {"done": 1} and run.finished_at is not None


def test_a_run_while_another_holds_the_jobs_lock_is_skipped():
    before = runs_counted(jobs.PRUNE, "skipped")
    with job_lock(jobs.PRUNE) as held:
        assert held
        run = jobs.prune_job(days=0)
    assert run.outcome == MaintenanceRun.Outcome.SKIPPED and "lock" in run.note
    assert runs_counted(jobs.PRUNE, "skipped") == before + 1
    assert jobs.prune_job(days=0).outcome == MaintenanceRun.Outcome.SUCCESS  # the lock went with its holder


def test_a_second_run_of_the_same_schedule_tick_is_skipped_but_a_manual_run_is_not():
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    periodic_task("test pruning", "operations.prune_logs", interval=every_minute)

    first = jobs.prune_job(trigger="beat:test pruning")
    second = jobs.prune_job(trigger="beat:test pruning")
    manual = jobs.prune_job(trigger="command")

    assert first.outcome == MaintenanceRun.Outcome.SUCCESS
    assert second.outcome == MaintenanceRun.Outcome.SKIPPED and f"run {first.pk}" in second.note
    assert manual.outcome == MaintenanceRun.Outcome.SUCCESS


def test_the_next_tick_runs_again():
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    periodic_task("test pruning", "operations.prune_logs", interval=every_minute)
    first = jobs.prune_job(trigger="beat:test pruning")
    MaintenanceRun.objects.filter(pk=first.pk).update(started_at=timezone.now() - timedelta(seconds=31))

    assert jobs.prune_job(trigger="beat:test pruning").outcome == MaintenanceRun.Outcome.SUCCESS


def test_a_run_left_running_by_a_dead_process_is_marked_failed_by_the_next():
    dead = MaintenanceRun.objects.create(job=jobs.VACUUM, started_at=timezone.now() - timedelta(hours=1))

    jobs.vacuum_job()

    dead.refresh_from_db()
    assert dead.outcome == MaintenanceRun.Outcome.FAILED and "interrupted" in dead.error


@pytest.mark.parametrize("crontab, period", [
    ({"minute": "30", "hour": "2"}, timedelta(days=1)),
    ({"minute": "0", "hour": "4", "day_of_week": "0"}, timedelta(days=1)),  # weekly: at least a day apart
    ({"minute": "*/15", "hour": "*"}, timedelta(minutes=15)),
    ({"minute": "0", "hour": "1,13"}, timedelta(hours=12)),
])
def test_schedule_period_of_a_crontab_is_its_shortest_gap(crontab, period):
    schedule = CrontabSchedule.objects.create(timezone="UTC", **crontab)
    assert schedule_period(PeriodicTask(name="x", task="x", crontab=schedule)) == period


def test_metrics_count_runs_and_show_each_jobs_last_success():
    before = runs_counted(jobs.VACUUM, "success")
    run = jobs.vacuum_job()

    assert runs_counted(jobs.VACUUM, "success") == before + 1
    families = {family.name: family for family in maintenance_collector.collect()}
    samples = {sample.labels["job"]: sample.value
               for sample in families["emma_maintenance_last_success_timestamp"].samples}
    run.refresh_from_db()
    assert samples[jobs.VACUUM] == run.finished_at.timestamp()
    assert "emma_backup_last_verified_timestamp" in families
