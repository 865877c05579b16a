"""What the maintenance jobs record: each run, and each backup. The tables keep the names they had in
`emma` (`db_table`), so moving the models here moved no data."""

from django.db import models


class MaintenanceRun(models.Model):
    """One run of a maintenance job (backup, verification, pruning, vacuum, restore): who started it,
    when, how it ended and what it did. A run that found the job's lock taken, or its schedule's tick
    already run, is recorded as skipped."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCESS = "success"
        FAILED = "failed"
        SKIPPED = "skipped"

    job = models.CharField(max_length=64)
    # "beat:<periodic task name>", "command" or "task" (queued by another job or the admin).
    trigger = models.CharField(max_length=220, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    figures = models.JSONField(default=dict, blank=True)  # rows deleted, bytes written, seconds per table...
    note = models.CharField(max_length=500, blank=True)  # why a run was skipped
    error = models.TextField(blank=True)
    host = models.CharField(max_length=200, blank=True)  # "host:pid" of the process that ran it

    class Meta:
        db_table = "emma_maintenancerun"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"], name="maintenancerun_job_started")]

    def __str__(self):
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Backup(models.Model):
    """A pg_dump of the whole database, with its checksum and the row counts of Emma's tables taken in
    the dump's own snapshot; `verified` once a restore into a scratch database found the same counts."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"  # written and checksummed, not yet restored
        VERIFIED = "verified"  # restored into a scratch database with the same row counts
        FAILED = "failed"  # the dump or its verification failed (see error)

    file = models.CharField(max_length=1000)  # absolute path; the checksum is beside it as <file>.sha256
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    server_version = models.CharField(max_length=32, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)  # {table: rows} at dump time
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "emma_backup"
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"backup {self.pk} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
