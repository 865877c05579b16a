import uuid

from django.conf import settings
from django.db import models

from core.models import TenantOwned


class AgentTask(TenantOwned):
    """One unit of agent work, from submission through the governance decision to its result."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REJECTED = "rejected"
        EXPIRED = "expired"
        CANCELLED = "cancelled"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_type = models.CharField(max_length=100, db_index=True)
    description = models.TextField(blank=True)
    parameters = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(default=5)
    risk = models.CharField(max_length=16)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    actual_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    decision = models.CharField(max_length=16)
    decision_reasons = models.JSONField(default=list)
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agent_tasks")
    channel = models.CharField(max_length=32, default="api")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # Who runs it now ("host:pid" of the worker process) and until when that claim holds.
    claimed_by = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a queued task may next be (re)published: after a retry's backoff, or by the stale sweep.
    not_before = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="agenttask_unique_idempotency_key",
                                    condition=models.Q(idempotency_key__isnull=False)),
            models.CheckConstraint(condition=models.Q(priority__gte=1, priority__lte=10),
                                   name="agenttask_priority_1_10"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "-created_at"], name="agenttask_tenant_status")]

    def __str__(self):
        return f"{self.task_type} {self.id}"


class TaskEvent(models.Model):
    """A status change of a task: the history shown with it."""

    task = models.ForeignKey(AgentTask, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.from_status or 'new'} → {self.to_status}"


# --- operations ---------------------------------------------------------------------------------


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
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"backup {self.pk} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
