"""Comments on a draft: anchored to a range of a revision's text, with replies, resolved and reopened;
@mentions of tenant members who may read the draft notify them once through their chat identity."""

import re

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from core.registries import port
from core.errors import Conflict, Invalid, NotFound
from drafting.models import Comment, Draft, DraftEvent, Revision
from drafting.selectors import draft_for, drafts_visible_to
from drafting.services import event_record

MENTION = re.compile(r"(?<![\w.@+-])@([\w.@+-]+)")
MENTION_PURPOSE = "draft_mention"
QUOTE_CONTEXT = 80  # characters of the comment quoted in a notification


def anchor_locate(comment: Comment, content: str) -> tuple[int, int] | None:
    """Where the comment's quoted text is in `content`: its offsets when it is still there, else the
    occurrence nearest to where it was; None when it is gone (an orphaned comment)."""
    if comment.anchor_start is None or not comment.quote:
        return None
    start, quote = comment.anchor_start, comment.quote
    if content[start:start + len(quote)] == quote:
        return start, start + len(quote)
    found, position = [], content.find(quote)
    while position != -1 and len(found) < 1000:
        found.append(position)
        position = content.find(quote, position + 1)
    if not found:
        return None
    nearest = min(found, key=lambda at: abs(at - start))
    return nearest, nearest + len(quote)


def mentioned_usernames(body: str) -> list[str]:
    return list(dict.fromkeys(name.rstrip(".,;:!?") for name in MENTION.findall(body)))


@transaction.atomic
def comment_create(*, user, draft_id, body: str, parent_id: int | None = None, revision: int | None = None,
                   start: int | None = None, end: int | None = None, quote: str | None = None) -> Comment:
    """A comment on the range [start, end) of a revision (the current one unless named), or a reply to a
    thread. The quoted text is the revision's, checked against `quote` when one is sent."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("comment", "Your part in this draft does not include commenting.")
    fields = {}
    if parent_id is not None:
        if any(value is not None for value in (revision, start, end, quote)):
            raise Invalid.field("parent", "A reply has no anchor of its own: it belongs to its thread's.")
        parent = Comment.objects.filter(draft=draft, pk=parent_id, parent__isnull=True).first()
        if parent is None:
            raise Invalid.field("parent", "No such thread on this draft.")
        fields["parent"] = parent
    elif start is not None or end is not None:
        fields.update(_anchor(draft, revision, start, end, quote))
    elif revision is not None or quote is not None:
        raise Invalid.field("start", "An anchor needs start and end.")
    comment = Comment.objects.create(tenant_id=draft.tenant_id, draft=draft, author=user, body=body, **fields)
    comment.mentions = _notify_mentions(draft, comment, user)
    comment.save(update_fields=["mentions"])
    event_record(draft.pk, DraftEvent.Kind.COMMENT, action="created", comment_id=comment.pk,
                 parent_id=parent_id, author=user.username, body=body, start=comment.anchor_start,
                 end=comment.anchor_end)
    return comment


def _anchor(draft: Draft, number, start, end, quote) -> dict:
    if start is None or end is None:
        raise Invalid.field("end" if start is not None else "start", "An anchor needs start and end.")
    number = number or draft.revision
    revision = Revision.objects.filter(draft=draft, number=number).only("content").first()
    if revision is None:
        raise Invalid.field("revision", f"The draft has no revision {number}.")
    if not 0 <= start < end <= len(revision.content):
        raise Invalid.field("end", f"Expected 0 <= start < end <= {len(revision.content)} (the revision's length).")
    text = revision.content[start:end]
    if quote is not None and quote != text:
        raise Invalid.field("quote", "The revision's text between start and end is not this quote.")
    return {"revision_number": number, "anchor_start": start, "anchor_end": end, "quote": text}


def _notify_mentions(draft: Draft, comment: Comment, author) -> list[str]:
    """Queue one message per mentioned member who may read the draft, on each of their chat identities
    whose channel is available, once per comment (the outbox's idempotency key)."""
    names = mentioned_usernames(comment.body)
    if not names:
        return []
    people = get_user_model().objects.filter(username__in=names, memberships__tenant_id=draft.tenant_id)
    mentioned = []
    for person in people:
        if not drafts_visible_to(_acting(person, draft.tenant_id)).filter(pk=draft.pk).exists():
            continue  # a mention shares nothing: someone who may not read the draft is not told of it
        mentioned.append(person.username)
        if person.pk == author.pk:
            continue
        excerpt = comment.body if len(comment.body) <= QUOTE_CONTEXT else comment.body[:QUOTE_CONTEXT] + "…"
        port("person_tell")(tenant_id=draft.tenant_id, person=person, purpose=MENTION_PURPOSE,
                            text=f"{author.username} mentioned you on the draft “{draft.title}”: {excerpt}",
                            key=f"drafting:mention:{comment.pk}")
    return sorted(mentioned)


def _acting(person, tenant_id):
    """The person as acting in the draft's tenant (their membership there), for the visibility rule."""
    person.membership = person.memberships.select_related("tenant").get(tenant_id=tenant_id)
    return person


def _resolvable(user, draft_id, comment_id) -> tuple[Draft, Comment]:
    draft, access = draft_for(user, draft_id, for_update=True)
    comment = Comment.objects.filter(draft=draft, pk=comment_id).first()
    if comment is None:
        raise NotFound("No such comment.")
    if comment.parent_id is not None:
        raise Conflict("A reply is resolved with its thread: resolve the comment it answers.")
    if not (access.edit or comment.author_id == user.pk and access.comment):
        access.require("edit", "The comment's author, the draft's editors and the tenant's admins resolve it.")
    return draft, comment


@transaction.atomic
def comment_resolve(*, user, draft_id, comment_id: int) -> Comment:
    """Resolve a thread; resolving a resolved one changes nothing."""
    draft, comment = _resolvable(user, draft_id, comment_id)
    if comment.resolved_at is None:
        comment.resolved_at, comment.resolved_by = timezone.now(), user
        comment.save(update_fields=["resolved_at", "resolved_by"])
        event_record(draft.pk, DraftEvent.Kind.COMMENT, action="resolved", comment_id=comment.pk, by=user.username)
    return comment


@transaction.atomic
def comment_reopen(*, user, draft_id, comment_id: int) -> Comment:
    """Reopen a resolved thread; reopening an open one changes nothing."""
    draft, comment = _resolvable(user, draft_id, comment_id)
    if comment.resolved_at is not None:
        comment.resolved_at, comment.resolved_by = None, None
        comment.save(update_fields=["resolved_at", "resolved_by"])
        event_record(draft.pk, DraftEvent.Kind.COMMENT, action="reopened", comment_id=comment.pk, by=user.username)
    return comment
