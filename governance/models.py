import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import TenantOwned


class DailyUsage(TenantOwned):
    """Estimated cost of the tasks a tenant accepted on one UTC day; the row is locked to decide."""

    day = models.DateField()
    committed = models.DecimalField(max_digits=14, decimal_places=4, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="dailyusage_unique_day")]


class Escalation(TenantOwned):
    """A decision waiting for a human, for one tier of the ladder. Moving up a tier closes this row as
    `escalated` and opens the next; the first valid decision on an open row wins."""

    class Status(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"
        ESCALATED = "escalated"
        CANCELLED = "cancelled"  # the task was withdrawn before anyone decided
        REPLIED = "replied"  # an agent's tool call answered with a message instead of running it

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # What governance decided on, copied: governance never reads the task itself.
    task_id = models.UUIDField(db_index=True)
    task_type = models.CharField(max_length=100)
    summary = models.TextField(blank=True)
    parameters = models.JSONField(default=dict)
    risk = models.CharField(max_length=16)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=32, blank=True)  # where the request came from: api, slack, sms, ...
    reasons = models.JSONField(default=list)
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    tier = models.PositiveSmallIntegerField(default=0)
    approver_group = models.CharField(max_length=150, blank=True)
    ladder = models.JSONField(default=list)  # the policy's tiers when this chain opened
    deadline = models.DateTimeField(db_index=True)
    # The tier's quorum: approvals needed to approve, rejections (a reply counts as one) to reject. Each
    # person's answer is an EscalationVote; the counts here are kept with them, under the row's lock.
    quorum = models.PositiveSmallIntegerField(default=1)
    reject_quorum = models.PositiveSmallIntegerField(default=1)
    approvals = models.PositiveSmallIntegerField(default=0)
    rejections = models.PositiveSmallIntegerField(default=0)
    # When the approvers who have not answered are reminded (null: no reminder, or it was sent).
    remind_at = models.DateTimeField(null=True, blank=True)
    reminder_fraction = models.FloatField(null=True, blank=True)  # the policy's, for the chain's later tiers
    decided_for = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")  # the approver a delegate decided for (decided_by)
    final_outcome = models.CharField(max_length=16, default="reject")
    allow_self_approval = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)  # when this row stopped being open, for any reason
    decision_reason = models.TextField(blank=True)
    decision_channel = models.CharField(max_length=32, blank=True)
    # An agent run's tool call (null for a task): its step, the tool, what the agent said it wants it for
    # and the JSON Schema edited arguments must satisfy.
    step = models.PositiveIntegerField(null=True, blank=True)
    tool = models.CharField(max_length=100, blank=True)
    agent_reason = models.TextField(blank=True)
    arguments_schema = models.JSONField(null=True, blank=True)
    # The approver's answer to a tool call: the arguments to run it with (approved with edits), the
    # message the agent receives instead of the result (replied), or the run stopped (rejected).
    decision_arguments = models.JSONField(null=True, blank=True)
    decision_message = models.TextField(blank=True)
    stop_run = models.BooleanField(default=False)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="next")
    correlation_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["deadline"]
        indexes = [models.Index(fields=["status", "deadline"], name="escalation_open_deadline"),
                   models.Index(fields=["remind_at"], name="escalation_remind_due",
                                condition=models.Q(remind_at__isnull=False))]
        constraints = [
            # One open escalation per task at a time.
            models.UniqueConstraint(fields=["task_id"], condition=models.Q(status="open"),
                                    name="escalation_one_open_per_task"),
        ]

    def __str__(self):
        return f"{self.task_type} tier {self.tier} ({self.status})"

    @property
    def quorum_text(self) -> str:
        """"1 of 2 approvals" (empty for a tier one person decides)."""
        parts = []
        if self.quorum > 1:
            parts.append(f"{self.approvals} of {self.quorum} approvals")
        if self.reject_quorum > 1 and (self.rejections or self.quorum <= 1):
            parts.append(f"{self.rejections} of {self.reject_quorum} rejections")
        return ", ".join(parts)


class EscalationVote(TenantOwned):
    """One person's answer on one tier of an escalation. Where a tier needs several approvals, each is a
    vote; the vote that completes a quorum closes the escalation. `on_behalf_of`: the approver a delegate
    stood in for (the delegate is `voter`)."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    on_behalf_of = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    outcome = models.CharField(max_length=16)  # approved, rejected or replied
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=32, blank=True)
    arguments = models.JSONField(null=True, blank=True)  # an approval of a tool call with edited arguments
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["escalation", "voter"], name="escalationvote_one_per_person")]

    def __str__(self):
        return f"{self.outcome} by {self.voter_id}"


class Delegation(TenantOwned):
    """An approver away for a period: the delegate receives their escalations and may decide what the
    delegator could, recorded as "delegate for delegator". A delegate never passes it on (no chains)."""

    delegator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["tenant", "delegate", "ends_at"], name="delegation_delegate_ends")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="delegation_ends_after_start"),
            models.CheckConstraint(condition=~models.Q(delegator=models.F("delegate")),
                                   name="delegation_not_to_oneself"),
        ]

    def __str__(self):
        return f"{self.delegator_id} → {self.delegate_id} until {self.ends_at:%Y-%m-%d %H:%M}"


class DecisionRecord(TenantOwned):
    """One decision of the policy gate, with the facts it saw (governance.services.decisions_make writes
    it): what policy simulations replay and autonomy suggestions are checked against."""

    class Subject(models.TextChoices):
        TASK = "task"
        TOOL_CALL = "tool_call"  # an agent run's tool call: `task_id` is the run's, `step` the call's

    subject = models.CharField(max_length=16, choices=Subject.choices)
    task_id = models.UUIDField(null=True, blank=True)
    step = models.PositiveIntegerField(null=True, blank=True)
    task_type = models.CharField(max_length=100)
    risk = models.CharField(max_length=16)
    external_side_effects = models.BooleanField(default=False)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    # Today's committed cost the decision saw; null when the policy set no daily budget (nothing was counted,
    # and decide saw 0).
    committed_before = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    outcome = models.CharField(max_length=16)
    reasons = models.JSONField(default=list)
    policy_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="decisionrecord_tenant_recent")]

    def __str__(self):
        return f"{self.task_type}: {self.outcome}"


class AuditEvent(TenantOwned):
    """An append-only, hash-chained record of one governed action. PostgreSQL refuses UPDATE and
    DELETE on this table (migration 0002); `verify_audit_log` recomputes the chain."""

    seq = models.PositiveBigIntegerField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["tenant_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="auditevent_unique_seq")]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The newest event of a tenant's audit chain (its seq and hash). Appending locks this row with the
    UPDATE that takes the next seq, so writers of one tenant take turns in one round trip."""

    tenant = models.OneToOneField("core.Tenant", primary_key=True, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)
