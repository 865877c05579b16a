"""The engineering events' tables: one per kind (integrations.signals), one row per thing a provider names
(`key`): a later delivery about the same deployment or incident updates its row."""

from django.conf import settings
from django.db import models

from core.models import TenantOwned


class EngineeringRecord(TenantOwned):
    provider = models.CharField(max_length=32)
    # Where the provider's keys are unique: "" for ids unique across all its accounts (GitHub's), else the
    # registered endpoint the rows came from (two Jenkins servers both have a build deploy#42).
    scope = models.CharField(max_length=64, blank=True, default="")
    key = models.CharField(max_length=255)
    title = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=1000, blank=True)
    delivery_id = models.BigIntegerField(null=True, blank=True)  # the last delivery that said something about it
    # When the state the row holds was true, as the latest delivery that changed it said: an older one (a replay,
    # a late retry) fills in what the row lacks but does not take its state back.
    observed_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Change(EngineeringRecord):
    """A commit on its way to production. `push` groups the commits that arrived together: a deployment that
    names one of them ships them all (Four Keys)."""

    repository = models.CharField(max_length=200)
    sha = models.CharField(max_length=64)
    authored_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    pull_request = models.CharField(max_length=50, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    push = models.CharField(max_length=100, blank=True)
    author = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-committed_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "repository", "sha"], name="change_once")]
        indexes = [models.Index(fields=["tenant", "sha"], name="change_sha"),
                   models.Index(fields=["tenant", "push"], name="change_push")]

    def __str__(self):
        return f"{self.repository}@{self.sha[:12]}"


class Deployment(EngineeringRecord):
    service = models.CharField(max_length=200)
    environment = models.CharField(max_length=100)
    status = models.CharField(max_length=32)
    sha = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-finished_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="deployment_once")]
        indexes = [models.Index(fields=["tenant", "environment", "service", "finished_at"], name="deployment_when")]

    def __str__(self):
        return f"{self.service} → {self.environment} ({self.status})"


class DeploymentChange(models.Model):
    """A commit a deployment shipped, as the deployment named it."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="changes")
    sha = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "sha"], name="deploymentchange_once")]
        indexes = [models.Index(fields=["sha"], name="deploymentchange_sha")]


class Incident(EngineeringRecord):
    service = models.CharField(max_length=200)
    environment = models.CharField(max_length=100, default="production")
    status = models.CharField(max_length=32, blank=True)
    severity = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    root_cause_sha = models.CharField(max_length=64, blank=True)
    deployment_key = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="incident_once")]
        indexes = [models.Index(fields=["tenant", "service", "opened_at"], name="incident_when")]

    def __str__(self):
        return f"{self.service}: {self.title or self.key}"


class Build(EngineeringRecord):
    pipeline = models.CharField(max_length=200)
    status = models.CharField(max_length=32)
    sha = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=200, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-finished_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="build_once")]


class Alert(EngineeringRecord):
    service = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=32, blank=True)
    severity = models.CharField(max_length=32, blank=True)
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="alert_once")]


class Issue(EngineeringRecord):
    project = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=64, blank=True)
    assignee = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="issue_once")]


class QualityGate(EngineeringRecord):
    project = models.CharField(max_length=200)
    status = models.CharField(max_length=32)
    sha = models.CharField(max_length=64, blank=True)
    branch = models.CharField(max_length=200, blank=True)
    conditions = models.JSONField(default=list, blank=True)
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "scope", "key"], name="qualitygate_once")]


class DoraDigest(TenantOwned):
    """A tenant's weekly DORA digest (off until enabled): the four figures and their change from the week
    before, posted to a Slack channel through the outbox, or submitted as a `notify` task as `run_as`."""

    class Via(models.TextChoices):
        SLACK = "slack", "A Slack channel (through the outbox)"
        NOTIFY = "notify", "A notify task (governed, as run_as)"

    enabled = models.BooleanField(default=False)
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.SLACK)
    to = models.CharField(max_length=200, blank=True, help_text="The Slack channel id (C…) or the notify "
                                                               "task's recipient.")
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    service = models.CharField(max_length=200, blank=True, help_text="Empty: every service.")
    environment = models.CharField(max_length=100, default="production")
    last_week_sent = models.DateField(null=True, blank=True)  # the Monday of the last week reported

    class Meta:
        verbose_name = "DORA digest"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="doradigest_one_per_tenant")]

    def __str__(self):
        return f"DORA digest of {self.tenant}"
