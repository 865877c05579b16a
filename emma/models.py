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
        WAITING_FOR_APPROVAL = "waiting_for_approval"  # an agent run paused on a tool call; no worker held
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
    # Where its outcome is POSTed when it reaches a final status (emma.callbacks).
    callback_url = models.URLField(max_length=2000, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="agenttask_unique_idempotency_key",
                                    condition=models.Q(idempotency_key__isnull=False)),
            models.CheckConstraint(condition=models.Q(priority__gte=1, priority__lte=10),
                                   name="agenttask_priority_1_10"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="agenttask_tenant_status"),
            # The callback sweep's search for finished tasks whose callback hook was lost with its process.
            models.Index(fields=["finished_at"], name="agenttask_callback_finished",
                         condition=models.Q(callback_url__isnull=False)),
        ]

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


class AgentRunStep(models.Model):
    """One recorded step of an agent run: a model turn, or one tool call the model made in a turn, with
    its governance decision and what the model was told. Each step is committed before the next begins,
    so a run resumes from its last committed step after a pause or a lost worker."""

    class Kind(models.TextChoices):
        MODEL = "model"
        TOOL = "tool"

    class ToolStatus(models.TextChoices):
        PENDING = "pending"  # not decided yet
        AWAITING_APPROVAL = "awaiting_approval"  # an escalation is open
        APPROVED = "approved"  # decided: run it (with `arguments`)
        DONE = "done"  # the model's answer (`content`) is recorded

    task = models.ForeignKey(AgentTask, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    turn = models.PositiveIntegerField()  # the seq of the model turn (its own, for a model step)
    # A model turn.
    text = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    # A tool call: as the model asked for it, as it ran (an approver may have edited it), and its outcome.
    tool_call_id = models.CharField(max_length=200, blank=True)
    tool = models.CharField(max_length=100, blank=True)
    requested_arguments = models.JSONField(null=True, blank=True)
    arguments = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ToolStatus.choices, blank=True)
    decision = models.CharField(max_length=16, blank=True)
    decision_reasons = models.JSONField(default=list, blank=True)
    escalation_id = models.UUIDField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    content = models.TextField(blank=True)  # what the model receives as the tool's result
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="agentrunstep_unique_seq")]

    def __str__(self):
        return f"step {self.seq} {self.kind} {self.tool}".strip()


# --- completion callbacks (emma.callbacks) ---------------------------------------------------------


class CallbackSecret(TenantOwned):
    """A tenant's key for signing its completion callbacks (Standard Webhooks: `whsec_` + base64).

    Stored as it is: there is no key ring to encrypt it with yet. Only emma.callbacks reads it (no admin
    screen, no API shows it but the rotation that creates it). A retired secret still signs, beside the
    current one, for a while after its rotation, so receivers can switch without losing a delivery."""

    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(retired_at__isnull=True),
                                    name="callbacksecret_one_current_per_tenant"),
        ]

    def __str__(self):
        return f"callback secret of {self.tenant_id} ({'retired' if self.retired_at else 'current'})"


class CallbackDelivery(TenantOwned):
    """The one completion callback of a finished task: its body, fixed when the task finished, and where
    its sending stands. Its id is the `webhook-id` of every attempt, so a receiver can deduplicate."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
        SENDING = "sending"  # claimed by one sender until lease_until
        DELIVERED = "delivered"  # the receiver answered 2xx
        DEAD = "dead"  # no attempt succeeded within the retry window

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.OneToOneField(AgentTask, on_delete=models.CASCADE, related_name="callback")
    url = models.URLField(max_length=2000)
    event_type = models.CharField(max_length=32)
    body = models.TextField()  # the exact JSON sent (and signed) on every attempt
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)  # attempts claimed so far (each has a CallbackAttempt)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "callback deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="callbackdelivery_due")]

    def __str__(self):
        return f"{self.event_type} to {self.url} ({self.status})"


class CallbackAttempt(models.Model):
    """One try at sending a callback: the receiver's status code, or why nothing was (or may have been) sent."""

    delivery = models.ForeignKey(CallbackDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="callbackattempt_unique_number")]

    def __str__(self):
        return f"attempt {self.number}: {self.status_code or self.error[:60]}"
