"""Maintenance from real beat processes and a real worker: a backup sent by beat is verified by a real
restore, and two beats started together run each job once per tick."""

import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from operations import jobs
from operations.models import Backup, MaintenanceRun
from tests.conftest import ROOT, stop_process_group, subprocess_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class BeatProcess:
    """`celery beat` with the DatabaseScheduler as a child process, logging to a file."""

    def __init__(self, directory: Path, name: str):
        self.log_path = directory / f"{name}.log"
        self.schedule_path = directory / f"{name}-schedule"
        self.process = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--max-interval", "1",
             "-s", str(self.schedule_path)],
            cwd=ROOT, env=subprocess_env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def sent(self, task: str) -> int:
        return sum(1 for line in self.log_path.read_text().splitlines() if "Sending due task" in line and task in line)

    def stop(self):
        stop_process_group(self.process)
        self.log.close()


@pytest.fixture
def beats(tmp_path):
    started = []

    def start(count: int) -> list[BeatProcess]:
        processes = [BeatProcess(tmp_path, f"beat-{n}") for n in range(count)]
        for process in processes:  # together
            started.append(process.start())
        return processes

    yield start
    for process in started:
        process.stop()


def every(seconds: int) -> IntervalSchedule:
    return IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)[0]


def runs(job: str):
    return MaintenanceRun.objects.filter(job=job).order_by("started_at")


def test_a_backup_sent_by_beat_is_verified_by_a_real_restore(celery_worker_process, beats):
    PeriodicTask.objects.create(name="test backup", task="operations.backup_database", interval=every(2), one_off=True,
                                queue="maintenance", expire_seconds=60)
    beats(1)
    try:
        backup = wait_for(lambda: Backup.objects.filter(status__in=(Backup.Status.VERIFIED, Backup.Status.FAILED))
                          .first(), timeout=90, message="the beat-sent backup to be verified")
        assert backup.status == Backup.Status.VERIFIED, backup.error
        assert Path(backup.file).is_file() and Path(f"{backup.file}.sha256").is_file()
        backup_run = runs(jobs.BACKUP).get()
        assert backup_run.outcome == MaintenanceRun.Outcome.SUCCESS and backup_run.trigger == "beat:test backup"
        verify_run = runs(jobs.VERIFY).get()
        assert verify_run.outcome == MaintenanceRun.Outcome.SUCCESS and verify_run.figures["verified"] == [backup.pk]
    finally:
        for backup in Backup.objects.exclude(file=""):
            Path(backup.file).unlink(missing_ok=True)
            Path(f"{backup.file}.sha256").unlink(missing_ok=True)


def test_two_beats_started_together_run_each_job_once_per_tick(celery_worker_process, beats):
    period = 4
    PeriodicTask.objects.create(name="test pruning", task="operations.prune_logs", interval=every(period),
                                queue="maintenance", expire_seconds=30)
    first, second = beats(2)
    wait_for(lambda: first.sent("operations.prune_logs") >= 3 and second.sent("operations.prune_logs") >= 3, timeout=60,
             message="both beats to send the job three times")
    # A beat logs "Sending due task" before it publishes: stopping it mid-interval, not just after a tick,
    # keeps a publish in flight from being cut off (a message logged but never sent).
    time.sleep(period / 2)
    first.stop()
    second.stop()
    sent = first.sent("operations.prune_logs") + second.sent("operations.prune_logs")
    wait_for(lambda: runs(jobs.PRUNE).count() == sent, timeout=30, message=f"the worker to take all {sent} messages")

    ran = list(runs(jobs.PRUNE).exclude(outcome=MaintenanceRun.Outcome.SKIPPED))
    skipped = runs(jobs.PRUNE).filter(outcome=MaintenanceRun.Outcome.SKIPPED).count()
    assert all(run.outcome == MaintenanceRun.Outcome.SUCCESS for run in ran)
    assert len(ran) + skipped == sent
    # One run per tick: each beat sent every tick, and only one of each pair ran.
    assert len(ran) == max(first.sent("operations.prune_logs"), second.sent("operations.prune_logs")), (len(ran), skipped, sent)
    gaps = [(later.started_at - earlier.started_at).total_seconds() for earlier, later in pairwise(ran)]
    assert all(gap >= period / 2 for gap in gaps), gaps
