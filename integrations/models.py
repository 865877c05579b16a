import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.fields import EncryptedTextField
from core.models import Membership, Tenant, TenantOwned


class Channel(models.TextChoices):
    """Where a person can be reached and can reach Emma."""

    SLACK = "slack", "Slack"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


def normalized_address(channel: str, address: str) -> str:
    """Phone numbers as +<digits> (Twilio sends +E.164, WhatsApp digits only); Slack ids as given."""
    address = (address or "").strip()
    if channel in (Channel.SMS, Channel.WHATSAPP):
        address = address.removeprefix("whatsapp:")
        digits = "".join(ch for ch in address if ch.isdigit())
        return f"+{digits}" if digits else ""
    return address


class WebhookEndpoint(TenantOwned):
    """A tenant's own webhook URL for one provider, /webhooks/<provider>/<id>, with its own secret (encrypted at
    rest). A rotation keeps the previous secret verifying until `previous_secret_expires_at`, so the tool can be
    updated without losing a delivery. A disabled endpoint answers 404 and stores nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    options = models.JSONField(default=dict, blank=True)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider", "name"], name="webhookendpoint_name")]

    def __str__(self):
        return f"{self.provider}: {self.name}"

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}/{self.id}"


class WebhookDelivery(models.Model):
    """One verified inbound request, stored once per (provider, dedup key) before it is processed; a delivery
    to a tenant's registered endpoint, once per (endpoint, dedup key), so no tenant can take another's ids."""

    class Provider(models.TextChoices):  # the global endpoints' providers; registered ones add their own names
        SLACK = "slack"
        TWILIO = "twilio"
        WABA = "waba"
        GITHUB = "github"
        JIRA = "jira"
        SENTRY = "sentry"

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        FAILED = "failed", "failed (dead letter)"
        IGNORED = "ignored"

    provider = models.CharField(max_length=32)
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="deliveries")
    dedup_key = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True)
    # Known at once for tool events (a registered endpoint's tenant, ?tenant=); for chat, from the sender.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    headers = models.JSONField(default=dict, blank=True)  # the provider's routing headers, never signatures
    verification = models.CharField(max_length=200, blank=True)  # how it was verified (which secret, which check)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    replays = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["provider", "dedup_key"], condition=models.Q(endpoint__isnull=True),
                                    name="webhookdelivery_once"),
            models.UniqueConstraint(fields=["endpoint", "dedup_key"], condition=models.Q(endpoint__isnull=False),
                                    name="webhookdelivery_once_per_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="webhookdelivery_pending"),
                   models.Index(fields=["tenant", "-received_at"], name="webhookdelivery_tenant")]

    def __str__(self):
        return f"{self.provider} {self.event_type or ''} {self.dedup_key}".replace("  ", " ")


class ChannelIdentity(TenantOwned):
    """A Slack user, phone number or WhatsApp number that speaks for one Emma user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_identities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=64, help_text="Slack member id (U…), or a phone number in "
                                                        "international format (+15551234567).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "channel identities"
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="channelidentity_unique_address")]

    def clean(self):
        self.address = normalized_address(self.channel, self.address)
        if not self.address:
            raise ValidationError({"address": "Enter a Slack member id or a phone number."})
        membership = Membership.objects.filter(user_id=self.user_id).first() if self.user_id else None
        if self.user_id and (membership is None or membership.tenant_id != self.tenant_id):
            raise ValidationError({"user": "This user is not a member of the chosen tenant."})

    def __str__(self):
        return f"{self.channel}:{self.address} → {self.user}"


# The tools an agent run started from GitHub may use unless its rule names others: read-only ones.
GITHUB_READ_TOOLS = ("github.get_issue", "github.get_file", "github.search_code")


def default_agent_tools() -> list[str]:
    return list(GITHUB_READ_TOOLS)


class RoutingRule(TenantOwned):
    """GitHub, Jira or Sentry events that match become a `notify` task posting their summary to a channel;
    or, for GitHub, an `agent.run` whose answer is posted back on the issue or pull request (agent_run)."""

    class Provider(models.TextChoices):
        GITHUB = "github"
        JIRA = "jira"
        SENTRY = "sentry"

    class Action(models.TextChoices):
        NOTIFY = "notify", "Notify a channel"
        AGENT_RUN = "agent_run", "Start an agent run (GitHub)"

    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.NOTIFY, help_text=(
        "Notify: the event's one-line summary is posted to the channel and recipient below. "
        "Start an agent run (GitHub only): a comment mentioning Emma (GITHUB_MENTION, default @emma) on an "
        "issue or pull request, or a label added (name it in match: {\"label.name\": \"emma\"}), starts an "
        "agent.run as the member below; its answer is posted back as a comment, governed like any side effect."))
    event_type = models.CharField(max_length=100, blank=True, help_text=(
        "GitHub: the X-GitHub-Event (workflow_run, issues, issue_comment, pull_request, …); Jira: webhookEvent "
        "(jira:issue_created, …); Sentry: the Sentry-Hook-Resource (event_alert, issue, metric_alert, …). "
        "Empty: any."))
    match = models.JSONField(default=dict, blank=True, help_text=(
        'Dotted paths into the payload and the value each must have (a list: any of them), e.g. '
        '{"action": "completed", "workflow_run.conclusion": "failure"}; '
        '{"comment.author_association": ["OWNER", "MEMBER", "COLLABORATOR"]} lets only the repository\'s '
        'people ask Emma.'))
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True,
                               help_text="Notify rules: where the summary is posted. Unused by agent runs.")
    to = models.CharField(max_length=128, blank=True, help_text=(
        "Notify rules: Slack channel id (C…), or a phone number. Unused by agent runs."))
    tools = models.JSONField(default=default_agent_tools, blank=True, help_text=(
        "Agent-run rules: the tools the run may use, a JSON list of names (empty: the read-only GitHub tools "
        + ", ".join(GITHUB_READ_TOOLS) + "). Each tool call is still governed. Unused by notify rules."))
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               help_text="The tenant member the notify task or the agent run (and its reply) "
                                         "is submitted as: the tenant's policy decides each as theirs.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "provider", "name"]

    def clean(self):
        if not isinstance(self.match, dict):
            raise ValidationError({"match": "Expected a JSON object of path → value."})
        membership = Membership.objects.filter(user_id=self.run_as_id, tenant_id=self.tenant_id).first() \
            if self.run_as_id else None
        if self.run_as_id and membership is None:
            raise ValidationError({"run_as": "This user is not a member of the chosen tenant."})
        if self.action == self.Action.AGENT_RUN:
            self._clean_agent_run()
        else:
            self._clean_notify()

    def _clean_notify(self):
        errors = {}
        if not self.channel:
            errors["channel"] = "A notify rule needs the channel its summary is posted to."
        if not (self.to or "").strip():
            errors["to"] = "A notify rule needs a Slack channel id or a phone number."
        if errors:
            raise ValidationError(errors)
        self.to = normalized_address(self.channel, self.to) if self.channel != Channel.SLACK else self.to.strip()
        if not self.to:
            raise ValidationError({"to": "Enter a Slack channel id or a phone number."})

    def _clean_agent_run(self):
        from emma import registry  # the task-type registry (a floor below): the tools must exist

        if self.provider != self.Provider.GITHUB:
            raise ValidationError({"action": "Only GitHub rules can start an agent run."})
        if self.tools in (None, "", []):
            self.tools = default_agent_tools()
        if not isinstance(self.tools, list) or not all(isinstance(name, str) and name for name in self.tools):
            raise ValidationError({"tools": "Expected a JSON list of tool names."})
        if len(self.tools) != len(set(self.tools)) or len(self.tools) > 50:
            raise ValidationError({"tools": "Name each tool once, 50 at most."})
        unknown = sorted(name for name in self.tools if registry.get_tool(name) is None)
        if unknown:
            raise ValidationError({"tools": f"Unknown tool(s): {', '.join(unknown)}."})

    def __str__(self):
        return self.name


class OutboundMessage(models.Model):
    """One message Emma sends (or one edit of a sent Slack message). The row is the outbox: the send
    task claims it (queued → sending) so it is sent at most once, and records the provider's id."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        CANCELLED = "cancelled"  # no longer needed (an approval request whose escalation was decided)

    class Operation(models.TextChoices):
        POST = "post"
        UPDATE = "update"  # Slack chat.update of `original`

    # None for a refusal to an unknown sender, who belongs to no tenant.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    to = models.CharField(max_length=128)
    text = models.TextField()
    blocks = models.JSONField(null=True, blank=True)  # Slack Block Kit
    operation = models.CharField(max_length=8, choices=Operation.choices, default=Operation.POST)
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="updates")
    purpose = models.CharField(max_length=32)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=255, unique=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    provider_channel = models.CharField(max_length=64, blank=True)  # Slack's channel id, for chat.update
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    escalation_id = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_due")]

    def __str__(self):
        return f"{self.channel} to {self.to} ({self.status})"


class DecisionCode(TenantOwned):
    """The single-use code one approver may decide one escalation with, from any of their channels."""

    escalation_id = models.UUIDField(db_index=True)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=12)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)  # used, or its escalation moved on
    used_channel = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation_id", "approver"], name="decisioncode_one_per_approver"),
            # A code names one open decision; closed codes may be drawn again.
            models.UniqueConstraint(fields=["code"], condition=models.Q(closed_at__isnull=True),
                                    name="decisioncode_unique_open_code"),
        ]

    def __str__(self):
        return f"code for {self.approver} on {self.escalation_id}"


class ChatRequest(TenantOwned):
    """Where a request from chat that became an agent run was asked: its answer (or why there is none)
    goes back there, to the requester's own linked address and nowhere else."""

    task_id = models.UUIDField(primary_key=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    to = models.CharField(max_length=128)
    identity = models.ForeignKey(ChannelIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.channel}:{self.to} asked {self.task_id}"


class GitHubRequest(TenantOwned):
    """An agent run asked for on GitHub (a comment mentioning Emma, or a label added) by a routing rule:
    where its answer goes back (the issue or pull request), and the `github.comment` task that posts it."""

    task_id = models.UUIDField(primary_key=True)  # the agent.run
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    repo = models.CharField(max_length=255)  # owner/name
    number = models.PositiveIntegerField()  # the issue's or pull request's
    comment_id = models.BigIntegerField(null=True, blank=True)  # the comment that asked; None for a label
    delivery_id = models.CharField(max_length=255, blank=True)  # X-GitHub-Delivery
    requested_by = models.CharField(max_length=255, blank=True)  # the GitHub login that asked
    url = models.URLField(max_length=500, blank=True)
    reply_task_id = models.UUIDField(null=True, blank=True, db_index=True)  # the github.comment task
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "GitHub request"

    def __str__(self):
        return f"{self.repo}#{self.number} asked {self.task_id}"


class GitHubInstallation(TenantOwned):
    """Emma's GitHub App installed on a user's or an organisation's account for one tenant: what it may reach,
    and the tokens Emma acts with, encrypted at rest (core.fields.EncryptedTextField)."""

    class AccountType(models.TextChoices):  # GitHub's `account.type`
        USER = "User"
        ORGANIZATION = "Organization"

    installation_id = models.BigIntegerField(unique=True)
    account_login = models.CharField(max_length=255)
    account_type = models.CharField(max_length=16, choices=AccountType.choices)
    repositories = models.JSONField(default=list, blank=True)  # full names ("octo-org/api") the installation reaches
    permissions = models.JSONField(default=dict, blank=True)  # as GitHub granted them: {"issues": "write", ...}
    # The installation access token, and its expiry (GitHub's are valid for an hour).
    access_token = EncryptedTextField(null=True, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    # OAuth user-to-server tokens only: the refresh token that renews the access token.
    refresh_token = EncryptedTextField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # The GitHub user who installed it through Emma (OAuth during installation): their user-to-server token,
    # renewed with `refresh_token`. Revoking Emma's authorisation (github_app_authorization) clears them.
    github_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    github_user_login = models.CharField(max_length=255, blank=True)
    user_access_token = EncryptedTextField(null=True, blank=True)
    user_access_token_expires_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)  # suspended or uninstalled on GitHub, or by Emma
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "account_login"]
        verbose_name = "GitHub installation"

    def __str__(self):
        return f"{self.account_login} (installation {self.installation_id})"


class GitHubOAuthState(TenantOwned):
    """One start of the GitHub connect flow by a tenant admin: single use (`used_at`, set by a conditional
    UPDATE), expiring, bound to the admin's session and user. Only a hash of the state is kept."""

    state_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "GitHub OAuth state"

    def __str__(self):
        return f"GitHub connect by {self.user} ({'used' if self.used_at else 'open'})"


from integrations.dora.models import (  # noqa: E402,F401  (the engineering events' tables are this app's models)
    Alert, Build, Change, Deployment, DeploymentChange, DoraDigest, Incident, Issue, QualityGate)
