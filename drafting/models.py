"""Documents written together: a draft, its revisions (every save), the people it is shared with, the
comments anchored to its text, the templates it may start from, and the events its open editors follow.

A draft's status moves draft → in_review → approved → published → archived (back to draft from in_review
when changes are requested); drafting.services holds the transitions, each a conditional UPDATE."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.models import TenantOwned


class DocumentType(models.TextChoices):
    ANNOUNCEMENT = "announcement"
    INCIDENT_REPORT = "incident_report"
    RELEASE_NOTES = "release_notes"
    EMAIL = "email"
    PROPOSAL = "proposal"
    FREE = "free"


class Draft(TenantOwned):
    class Status(models.TextChoices):
        DRAFT = "draft"
        IN_REVIEW = "in_review"
        APPROVED = "approved"
        PUBLISHED = "published"
        ARCHIVED = "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    doc_type = models.CharField(max_length=32, choices=DocumentType.choices, default=DocumentType.FREE)
    content = models.TextField(blank=True)  # the current revision's, kept here for lists and search
    revision = models.PositiveIntegerField(default=0)  # the current revision's number
    revision_saves = models.PositiveIntegerField(default=0)  # and how many saves it holds (coalesced)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    tone = models.CharField(max_length=50, blank=True)
    audience = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_note = models.TextField(blank=True)  # why changes were requested, or the approver's note
    template_version = models.ForeignKey("TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The last save, metadata change or transition: what DRAFT_ARCHIVE_DAYS counts from.
    touched_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-touched_at", "pk"]
        indexes = [models.Index(fields=["tenant", "status", "-touched_at"], name="draft_tenant_status"),
                   models.Index(fields=["status", "touched_at"], name="draft_retention")]

    def __str__(self):
        return self.title

    @property
    def etag(self) -> str:
        """The current revision, exactly: its number and how many saves coalesced into it."""
        return f'"{self.revision}.{self.revision_saves}"'


class Collaborator(models.Model):
    """Someone the draft is shared with, and what they may do with it."""

    class Role(models.TextChoices):
        EDITOR = "editor"
        COMMENTER = "commenter"
        VIEWER = "viewer"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["draft", "user"], name="collaborator_once")]


class Revision(models.Model):
    """One saved state of a draft's content. An author's saves within DRAFT_COALESCE_SECONDS update their
    latest revision in place (`saves` counts them; the number stays)."""

    class Kind(models.TextChoices):
        SAVE = "save"
        MERGE = "merge"  # a stale save merged three-way with what was saved meanwhile
        RESTORE = "restore"
        TEMPLATE = "template"  # the first revision, rendered from a template
        AGENT = "agent"  # an agent run's text (drafting.assist); `author` is the person who asked for it

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SAVE)
    checkpoint = models.BooleanField(default=False)  # asked for: later saves do not coalesce into it
    saves = models.PositiveIntegerField(default=1)
    base_number = models.PositiveIntegerField(null=True, blank=True)  # a merge's base, or a restore's source
    their_number = models.PositiveIntegerField(null=True, blank=True)  # a merge's other side
    created_at = models.DateTimeField(auto_now_add=True)
    saved_at = models.DateTimeField(auto_now_add=True)  # its last save (later than created_at when coalesced)

    class Meta:
        ordering = ["draft", "number"]
        constraints = [models.UniqueConstraint(fields=["draft", "number"], name="revision_number_once")]

    def __str__(self):
        return f"{self.draft_id} r{self.number}"


class Comment(TenantOwned):
    """A remark on a range of a revision's text (start and end offsets, and the text quoted, so the anchor
    can be found again after edits), or a reply to one."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    revision_number = models.PositiveIntegerField(null=True, blank=True)
    anchor_start = models.PositiveIntegerField(null=True, blank=True)
    anchor_end = models.PositiveIntegerField(null=True, blank=True)
    quote = models.TextField(blank=True)
    mentions = ArrayField(models.CharField(max_length=150), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["draft", "created_at"], name="comment_draft")]


class Template(TenantOwned):
    """A named starting point for drafts; each change is a new TemplateVersion."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)  # the current version's number
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="template_name_once")]

    def __str__(self):
        return self.name


class TemplateVersion(models.Model):
    """A template as it was at one change: its Jinja2 body (rendered in a sandbox), the JSON Schema
    (Draft 2020-12) its variables must satisfy, and what the draft it starts is called and what it is."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    doc_type = models.CharField(max_length=32, choices=DocumentType.choices, default=DocumentType.FREE)
    body = models.TextField()
    variables_schema = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="templateversion_once")]

    def __str__(self):
        return f"{self.template} v{self.number}"


class DraftEvent(models.Model):
    """What a draft's open editors are told (drafting.events): a revision saved, a comment, a status change.
    Written in the same transaction as the change, while the draft's row is locked, so a draft's events
    commit in the order of their ids and a stream that resumes after an id misses none."""

    class Kind(models.TextChoices):
        REVISION = "revision"
        COMMENT = "comment"
        STATUS = "status"
        DRAFT = "draft"  # title, tags, collaborators...

    id = models.BigAutoField(primary_key=True)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["draft", "id"], name="draftevent_draft")]


class Review(TenantOwned):
    """One request for review of one revision: governance's escalation decides it (its `task_id` is this
    review's id), and drafting.reviews applies the outcome to the draft. One open review per draft."""

    class Status(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        CHANGES_REQUESTED = "changes_requested"
        EXPIRED = "expired"  # no decision before the ladder's last deadline, and the policy's default rejects
        WITHDRAWN = "withdrawn"  # its owner (or an editor, an admin) took it back before anyone decided

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="reviews")
    revision = models.PositiveIntegerField()  # the revision reviewed (the draft is frozen while in review)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    escalation_id = models.UUIDField(null=True, blank=True)  # the chain's first tier (governance has the rest)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    request_note = models.TextField(blank=True)  # what the submitter said
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    note = models.TextField(blank=True)  # the decision's reason: what should change, or the approver's note
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["draft"], condition=models.Q(status="open"),
                                               name="review_one_open_per_draft")]

    def __str__(self):
        return f"{self.draft_id} r{self.revision} ({self.status})"


class PublishTarget(models.TextChoices):
    SLACK = "slack"
    EMAIL = "email"
    WEBHOOK = "webhook"
    GITHUB = "github"


class Publication(TenantOwned):
    """One approved revision sent to one target, by an emma task of type `drafting.publish` (governed,
    audited and costed like any task). Once per draft, revision and target: a repeated request finds this
    row; the task's handler sends once and keeps the provider's receipt here."""

    class Status(models.TextChoices):
        PENDING = "pending"  # its task waits for approval, or for a worker
        SENDING = "sending"  # a worker claimed the send (an email has no idempotency key: never sent twice)
        PUBLISHED = "published"
        FAILED = "failed"  # the target refused it, or the outcome is unknown
        REFUSED = "refused"  # the policy denied it, an approver rejected it, or it was cancelled or expired

    ACTIVE = (Status.PENDING, Status.SENDING, Status.PUBLISHED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="publications")
    revision = models.PositiveIntegerField()
    target = models.CharField(max_length=16, choices=PublishTarget.choices)
    destination = models.JSONField(default=dict)  # the target's fields: channel; to, subject; url; repo, issue...
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    receipt = models.JSONField(default=dict, blank=True)  # the provider's message id, status code, URL...
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [models.UniqueConstraint(
            fields=["draft", "revision", "target"], condition=models.Q(status__in=["pending", "sending", "published"]),
            name="publication_once_per_target")]

    def __str__(self):
        return f"{self.draft_id} r{self.revision} → {self.target} ({self.status})"


class AssistRequest(TenantOwned):
    """Someone asked an agent to write the draft from a brief, or to revise a selection of it: the
    `agent.run` task doing it (emma's; known here by its id) and what became of its answer. Written in the
    same transaction as the task; drafting.assist applies the answer once the run has finished."""

    class Action(models.TextChoices):
        DRAFT = "draft"  # the whole content, written from a brief
        REVISE = "revise"  # the selection, rewritten as instructed

    class Status(models.TextChoices):
        PENDING = "pending"  # the run has not finished (queued, running, or waiting for an approval)
        APPLIED = "applied"  # a new revision by the agent holds the answer
        CONFLICT = "conflict"  # the draft changed the same lines meanwhile: the answer is kept here only
        NOT_APPLIED = "not_applied"  # the draft is no longer editable (or the answer cannot be stored)
        FAILED = "failed"
        REJECTED = "rejected"  # the policy denied the run, or an approver rejected it
        EXPIRED = "expired"  # nobody approved the run in time
        CANCELLED = "cancelled"

    id = models.BigAutoField(primary_key=True)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="assists")
    task_id = models.UUIDField(unique=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    instruction = models.TextField()  # the brief (draft) or the instruction (revise)
    selection_start = models.PositiveIntegerField(null=True, blank=True)
    selection_end = models.PositiveIntegerField(null=True, blank=True)
    quote = models.TextField(blank=True)  # the selected text, as it was in the base revision
    base_revision = models.PositiveIntegerField()
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    revision = models.PositiveIntegerField(null=True, blank=True)  # the revision the answer became
    merged = models.BooleanField(default=False)  # merged three-way with what was saved since the base revision
    result = models.TextField(blank=True)  # the agent's answer (kept when it could not be applied)
    note = models.TextField(blank=True)  # why it was not applied, or why the run ended without an answer
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["draft", "-created_at"], name="assist_draft")]

    def __str__(self):
        return f"{self.action} of {self.draft_id} ({self.status})"
