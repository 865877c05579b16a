"""Publishing an approved draft: a governed side effect. `draft_publish` records a Publication (one per draft,
revision and target) and submits an emma task of type `drafting.publish` through emma's normal submission,
so the tenant's policy allows, escalates or denies it, and it is audited and costed like any task. The
task's handler sends the revision once:

- slack: through the outbox (integrations.outbound, idempotency key `publication:<id>`), so the tenant's
  `integrations` configuration, the breaker, rate limits and caps apply; the receipt is the provider's
  message id, recorded once the outbox sent it (a deferred send retries the task, which finds the same row);
- webhook: a JSON POST carrying the publication as its Idempotency-Key (like webhook.post), retried on 5xx,
  429 and network errors;
- email: through Django's mail backend (EMAIL_URL; core.mail on the console), once: the publication is
  claimed (pending → sending) before the send, so a worker that died mid-send leaves "outcome unknown"
  rather than a second email; its Message-ID is the publication's;
- github: a comment on an issue, or a new issue, as the tenant's GitHub installation, carrying the hidden
  marker a retry looks for first (integrations.github.client).

On success the publication keeps the receipt and the draft becomes `published`; a refused, rejected,
expired, cancelled or failed task settles the publication (`publication_on_task_finished`, and the sweep
`publications_settle_lost` for a lost hook or an outbox send that finished after its task gave up)."""

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Invalid
from core.registries import port
from drafting import services
from drafting.models import Draft, Publication, PublishTarget, Revision
from drafting.selectors import draft_for
from emma.models import AgentTask
from emma.registry import RetryableError, task_type
from emma.services import task_submit
from emma.task_types import webhook
from governance.selectors import escalation_for_task

logger = logging.getLogger(__name__)

PUBLISH_TASK_TYPE = "drafting.publish"
PREVIEW_CHARS = 1500
Status = Publication.Status

REPO = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
DESTINATION = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "channel": {"type": "string", "pattern": r"^[#@]?[A-Za-z0-9._-]{1,80}$"},
        "to": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string", "maxLength": 254}},
        "subject": {"type": "string", "maxLength": 200},
        "url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
        "repo": {"type": "string", "pattern": REPO},
        "issue": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
        "title": {"type": "string", "minLength": 1, "maxLength": 256},
    },
}
# Each target's fields: those it needs, and those it may have.
TARGET_FIELDS = {PublishTarget.SLACK: ({"channel"}, set()), PublishTarget.EMAIL: ({"to"}, {"subject"}),
                 PublishTarget.WEBHOOK: ({"url"}, set()), PublishTarget.GITHUB: ({"repo"}, {"issue", "title"})}


def destination_errors(target: str, destination: dict) -> dict[str, list[str]]:
    """What is missing from, or does not belong to, a target's destination (the JSON Schema checks shapes)."""
    if target not in TARGET_FIELDS:
        return {"target": [f"One of {', '.join(TARGET_FIELDS)}."]}
    needed, optional = TARGET_FIELDS[target]
    errors = {name: [f"Required to publish to {target}."] for name in sorted(needed - set(destination))}
    errors.update({name: [f"Not a field of a {target} publication."]
                   for name in sorted(set(destination) - needed - optional)})
    if target == PublishTarget.GITHUB and "issue" in destination and "title" in destination:
        errors["title"] = ["A comment on an issue has no title: give `issue` (a comment) or `title` (a new issue)."]
    return errors


def _describe(target: str, destination: dict) -> str:
    if target == PublishTarget.SLACK:
        return f"Slack {destination.get('channel')}"
    if target == PublishTarget.EMAIL:
        return f"email to {', '.join(destination.get('to') or [])}"
    if target == PublishTarget.WEBHOOK:
        return f"a webhook at {destination.get('url')}"
    if "issue" in destination:
        return f"a comment on {destination.get('repo')}#{destination['issue']}"
    return f"a new issue in {destination.get('repo')}"


# --- the request ------------------------------------------------------------------------------------------


@dataclass
class PublishResult:
    publication: Publication
    created: bool


@transaction.atomic
def draft_publish(*, user, draft_id, target: str, destination: dict, correlation_id: str = "") -> PublishResult:
    """Publish the draft's approved revision to a target: its owner or a tenant admin, once it is approved
    (or published elsewhere already). Once per revision and target: the same request again returns the
    publication it made (nothing sent again); another destination for that target is a 409."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("manage", "Only the draft's owner and the tenant's admins may publish it.")
    if draft.status not in (Draft.Status.APPROVED, Draft.Status.PUBLISHED):
        raise Conflict(f"The draft is {draft.status.replace('_', ' ')}: only an approved draft can be published.",
                       details={"status": draft.status})
    errors = destination_errors(target, destination)
    if errors:
        raise Invalid(details=errors)
    existing = Publication.objects.filter(draft=draft, revision=draft.revision, target=target,
                                          status__in=Publication.ACTIVE).first()
    if existing is not None:
        if existing.destination != destination:
            raise Conflict(f"Revision {draft.revision} is already published to {target} "
                           f"({_describe(target, existing.destination)}).",
                           details={"publication": str(existing.pk), "status": existing.status})
        return PublishResult(existing, created=False)
    publication = Publication.objects.create(tenant_id=draft.tenant_id, draft=draft, revision=draft.revision,
                                             target=target, destination=destination, requested_by=user)
    preview = draft.content[:PREVIEW_CHARS] + ("…" if len(draft.content) > PREVIEW_CHARS else "")
    submitted = task_submit(
        user=user, task_type=PUBLISH_TASK_TYPE, correlation_id=correlation_id, channel="api",
        description=f"Publish “{draft.title}” (revision {draft.revision}) to {_describe(target, destination)}",
        parameters={"publication": str(publication.pk), "draft": str(draft.pk), "title": draft.title,
                    "revision": draft.revision, "target": target, "destination": destination, "preview": preview},
        idempotency_key=f"{PUBLISH_TASK_TYPE}:{publication.pk}", by_its_app=True)
    publication.task_id = submitted.task.pk
    fields = ["task_id"]
    if submitted.task.status == AgentTask.Status.REJECTED:
        publication.status, publication.error = Status.REFUSED, "; ".join(submitted.task.decision_reasons)
        fields += ["status", "error"]
    publication.save(update_fields=fields)
    return PublishResult(publication, created=True)


# --- the task type ------------------------------------------------------------------------------------------


def _text(draft: Draft, content: str) -> str:
    return f"*{draft.title}*\n\n{content}"


def _to_slack(ctx, publication: Publication, content: str) -> dict:
    return port("slack_publish")(tenant_id=publication.tenant_id, channel=publication.destination["channel"],
                                 text=_text(publication.draft, content), key=f"publication:{publication.pk}",
                                 task_id=ctx.task_id, purpose="publication")


def _to_webhook(ctx, publication: Publication, content: str) -> dict:
    draft = publication.draft
    body = {"publication": str(publication.pk), "draft": str(draft.pk), "title": draft.title,
            "doc_type": draft.doc_type, "revision": publication.revision, "content": content,
            "tags": draft.tags, "owner": draft.owner.get_username()}
    response = webhook.send(publication.destination["url"], body, idempotency_key=f"publication:{publication.pk}",
                            correlation_id=ctx.correlation_id)
    return {"status_code": response.status_code}


def _to_email(ctx, publication: Publication, content: str) -> dict:
    # An email has no idempotency key: claimed before the send, so a retry after a death mid-send never doubles it.
    if not Publication.objects.filter(pk=publication.pk, status=Status.PENDING).update(status=Status.SENDING):
        raise RuntimeError("outcome unknown: an earlier attempt stopped while sending this email; check with the "
                           "recipients before publishing it again")
    message_id = f"<publication-{publication.pk}@emma>"
    email = EmailMessage(subject=publication.destination.get("subject") or publication.draft.title, body=content,
                         from_email=settings.DEFAULT_FROM_EMAIL, to=list(publication.destination["to"]),
                         headers={"Message-ID": message_id})
    try:
        email.send()
    except (smtplib.SMTPException, OSError) as exc:
        Publication.objects.filter(pk=publication.pk, status=Status.SENDING).update(status=Status.PENDING)
        raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
    return {"message_id": message_id, "to": list(publication.destination["to"])}


def _to_github(ctx, publication: Publication, content: str) -> dict:
    destination, draft = publication.destination, publication.draft
    comment = "issue" in destination
    return port("github_publish")(
        tenant_id=publication.tenant_id, repo=destination["repo"], issue=destination.get("issue"),
        title=destination.get("title") or draft.title, body=f"## {draft.title}\n\n{content}" if comment else content,
        key=f"publication:{publication.pk}")


SENDERS = {PublishTarget.SLACK: _to_slack, PublishTarget.WEBHOOK: _to_webhook, PublishTarget.EMAIL: _to_email,
           PublishTarget.GITHUB: _to_github}


def _result(publication: Publication, *, already: bool) -> dict:
    return {"publication": str(publication.pk), "target": publication.target, "revision": publication.revision,
            "receipt": publication.receipt, "already_published": already}


@transaction.atomic
def publication_published(*, publication_id, receipt: dict) -> bool:
    """The publication sent: its receipt kept, and its draft published (if it is still approved). Once."""
    publication = Publication.objects.filter(pk=publication_id).first()
    moved = Publication.objects.filter(pk=publication_id, status__in=(Status.PENDING, Status.SENDING, Status.FAILED)
                                       ).update(status=Status.PUBLISHED, receipt=receipt, error="",
                                                published_at=timezone.now())
    if not moved:
        return False
    if Draft.objects.filter(pk=publication.draft_id, status=Draft.Status.APPROVED).exists():
        try:
            with transaction.atomic():
                services.draft_publish_mark(draft_id=publication.draft_id,
                                            note=f"published to {_describe(publication.target, publication.destination)}")
        except Conflict:
            pass  # moved meanwhile (archived, or published by another target first)
    return True


def _headline(arguments: dict) -> str:
    return (f"publish “{arguments['title']}” (revision {arguments['revision']}) to "
            f"{_describe(arguments['target'], arguments.get('destination') or {})}")


def _check(parameters: dict) -> dict[str, list[str]]:
    return {f"destination.{name}" if name != "target" else name: problems for name, problems in
            destination_errors(parameters["target"], parameters["destination"]).items()}


@task_type(
    PUBLISH_TASK_TYPE, risk="medium", external_side_effects=True, default_cost=0, time_limit=60, max_attempts=5,
    receipt=lambda result: result["receipt"], check=_check, headline=_headline,
    submitted_through="POST /api/drafts/{id}/publish",
    summary_template="drafting/summaries/publish.html",
    description="Publishes an approved draft's revision to Slack, email, a webhook or GitHub, once (submitted by "
                "POST /api/drafts/{id}/publish; the publication it names must be waiting for this task).",
    schema={"type": "object", "additionalProperties": False,
            "required": ["publication", "draft", "title", "revision", "target", "destination"],
            "properties": {"publication": {"type": "string", "maxLength": 36},
                           "draft": {"type": "string", "maxLength": 36},
                           "title": {"type": "string", "maxLength": 200},
                           "revision": {"type": "integer", "minimum": 1},
                           "target": {"enum": list(PublishTarget.values)},
                           "destination": DESTINATION,
                           "preview": {"type": "string", "maxLength": PREVIEW_CHARS + 1}}})
def publish(ctx, parameters):
    # Only the publication that submitted this very task: a drafting.publish submitted by hand names none.
    publication = (Publication.objects.select_related("draft__owner")
                   .filter(pk=parameters["publication"], tenant_id=ctx.tenant_id, task_id=ctx.task_id).first())
    if publication is None:
        raise ValueError("no publication of this tenant is waiting for this task (publish with "
                         "POST /api/drafts/{id}/publish)")
    if publication.status == Status.PUBLISHED:
        return _result(publication, already=True)  # a redelivered task: sent already, nothing sent again
    content = Revision.objects.get(draft_id=publication.draft_id, number=publication.revision).content
    receipt = SENDERS[publication.target](ctx, publication, content)
    publication_published(publication_id=publication.pk, receipt=receipt)
    publication.refresh_from_db()
    return _result(publication, already=False)


# --- settling ---------------------------------------------------------------------------------------------

ENDED = {AgentTask.Status.REJECTED: Status.REFUSED, AgentTask.Status.EXPIRED: Status.REFUSED,
         AgentTask.Status.CANCELLED: Status.REFUSED, AgentTask.Status.FAILED: Status.FAILED}


def publication_settle(task: AgentTask) -> bool:
    """A drafting.publish task ended without publishing: its publication is refused (denied, rejected,
    expired, cancelled) or failed (with the task's error). Conditional: once."""
    if task.task_type != PUBLISH_TASK_TYPE or task.status not in ENDED:
        return False
    escalation = escalation_for_task(task_id=task.pk) if task.status != AgentTask.Status.FAILED else None
    why = (task.error or (escalation.decision_reason if escalation else "") or "; ".join(task.decision_reasons or [])
           or task.status)
    return bool(Publication.objects.filter(task_id=task.pk, status__in=(Status.PENDING, Status.SENDING)).update(
        status=ENDED[task.status], error=f"{task.status}: {why}"[:2000]))


def publication_on_task_finished(*, task) -> None:
    """emma hook, after a task's final move committed: a quick conditional update of its publication."""
    if task.task_type == PUBLISH_TASK_TYPE:
        publication_settle(task)


def publications_settle_lost(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
    """Publications whose task ended but whose hook was lost (a process died after the commit), and Slack
    publications whose outbox message was sent after their task stopped waiting for it: settled now."""
    before = timezone.now() - older_than
    waiting = Publication.objects.filter(status__in=(Status.PENDING, Status.SENDING), created_at__lt=before)
    ended = AgentTask.objects.filter(pk__in=waiting.values("task_id"), status__in=list(ENDED))[:limit]
    settled = sum(publication_settle(task) for task in ended)
    slack = Publication.objects.filter(target=PublishTarget.SLACK, status__in=(Status.PENDING, Status.FAILED),
                                       created_at__lt=before).values_list("pk", flat=True)[:limit]
    sent = port("slack_sent")(keys=[f"publication:{pk}" for pk in slack])
    for key, receipt in sent.items():
        try:
            settled += publication_published(publication_id=key.split(":", 1)[1], receipt=receipt)
        except IntegrityError:  # a failed one published late, while a newer one for its target is active
            logger.warning("publication %s was sent late; a newer one is active", key)
    return settled
