"""Writing drafts: creating one (blank or from a template), its details and collaborators, saving revisions
(If-Match, three-way merges of stale saves, coalescing of quick saves), restoring one, and the status
transitions. Every write to a draft holds its row (select_for_update or a conditional UPDATE) until it
commits, so two saves never both build on the same revision and the draft's events commit in order."""

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from merge3 import Merge3

from core.errors import ApplicationError, Conflict, Forbidden, Invalid, NotFound
from core.selectors import membership_for_user
from drafting import configuration, rendering
from drafting.models import Collaborator, Draft, DraftEvent, Revision
from drafting.selectors import draft_for, template_for, template_version_of

Status = Draft.Status
# What a revision event carries of the content itself (larger: the client reads the revision).
EVENT_CONTENT_CHARS = 64 * 1024


class ContentTooLarge(ApplicationError):
    status, code = 413, "payload_too_large"
    default_message = "The draft's content is larger than the deployment allows."


class PreconditionRequired(ApplicationError):
    status, code = 428, "precondition_required"
    default_message = ("A save must say which revision it is based on: send If-Match with the draft's ETag "
                       "(or the revision's number).")


def content_check(content: str) -> None:
    """No content over DRAFT_MAX_CONTENT_BYTES (UTF-8): a 413, and nothing stored."""
    limit = settings.DRAFT_MAX_CONTENT_BYTES
    if len(content) > limit or len(content.encode()) > limit:
        raise ContentTooLarge(f"The content is larger than {limit} bytes.", details={"max_bytes": limit})


def event_record(draft_id, event: str, **data) -> None:
    """An event for the draft's open streams; call it while the draft's row is held (see DraftEvent)."""
    DraftEvent.objects.create(draft_id=draft_id, kind=event, data=data)


def revision_event_data(revision: Revision, *, draft: Draft, coalesced: bool = False) -> dict:
    small = len(revision.content) <= EVENT_CONTENT_CHARS
    return {"number": revision.number, "saves": revision.saves, "etag": draft.etag, "kind": revision.kind,
            "author": revision.author.username if revision.author else None, "coalesced": coalesced,
            "base_number": revision.base_number, "their_number": revision.their_number,
            "saved_at": revision.saved_at.isoformat(), "content": revision.content if small else None}


def _touch(draft: Draft, **fields) -> None:
    fields["touched_at"] = timezone.now()
    for name, value in fields.items():
        setattr(draft, name, value)
    draft.save(update_fields=list(fields))


# --- drafts -------------------------------------------------------------------------------------------


def _members_named(tenant_id, usernames) -> dict:
    users = {user.username: user for user in get_user_model().objects.filter(
        username__in=list(usernames), memberships__tenant_id=tenant_id)}
    unknown = sorted(set(usernames) - set(users))
    if unknown:
        raise Invalid(details={"collaborators": [f"Not a member of this tenant: {', '.join(unknown)}."]})
    return users


def _collaborators_write(draft: Draft, collaborators: list[dict]) -> None:
    roles = {item["username"]: item["role"] for item in collaborators}
    if draft.owner.username in roles:
        raise Invalid(details={"collaborators": ["The owner is not one of the collaborators."]})
    users = _members_named(draft.tenant_id, roles)
    Collaborator.objects.filter(draft=draft).exclude(user__in=list(users.values())).delete()
    for username, role in roles.items():
        Collaborator.objects.update_or_create(draft=draft, user=users[username], defaults={"role": role})


@transaction.atomic
def draft_create(*, user, title: str = "", doc_type: str | None = None, content: str = "", tags=(), tone: str = "",
                 audience: str = "", collaborators: list[dict] = (), template_id=None, template_version=None,
                 variables: dict | None = None) -> Draft:
    """A new draft owned by the caller, with its first revision: the content given, or the template's
    version rendered with the variables (checked against its schema first)."""
    membership = membership_for_user(user)
    version = None
    kind = Revision.Kind.SAVE
    if template_id is not None:
        # Named in the body, not the path: one that is not the tenant's is an invalid field.
        try:
            template = template_for(user, template_id)
        except NotFound:
            raise Invalid.field("template", "No such template.") from None
        if not configuration.template_allowed(membership.tenant_id, template):
            raise Forbidden(f"New drafts may not start from the template \"{template.name}\": it is not among "
                            f"the templates_allowed of this tenant's drafting configuration.",
                            details={"template": ["Not allowed by this tenant's drafting configuration."]})
        try:
            version = template_version_of(template, template_version)
        except NotFound as exc:
            raise Invalid.field("template_version", exc.message) from None
        variables = variables or {}
        rendering.variables_check(variables_schema=version.variables_schema, variables=variables)
        rendered_title, content = rendering.render_version(version, variables)
        title = title or rendered_title
        doc_type = doc_type or version.doc_type
        kind = Revision.Kind.TEMPLATE
    elif variables:
        raise Invalid.field("variables", "Variables are for a draft made from a template.")
    if not title:
        raise Invalid.field("title", "A draft needs a title (or a template that gives one).")
    content_check(content)
    draft = Draft.objects.create(tenant_id=membership.tenant_id, title=title, doc_type=doc_type or "free",
                                 content=content, revision=1, revision_saves=1, tags=list(dict.fromkeys(tags)),
                                 tone=tone, audience=audience, owner=user, template_version=version)
    # The draft as it was made is kept: the owner's first save does not coalesce into it.
    revision = Revision.objects.create(draft=draft, number=1, content=content, author=user, kind=kind,
                                       checkpoint=True)
    if collaborators:
        _collaborators_write(draft, list(collaborators))
    event_record(draft.pk, DraftEvent.Kind.REVISION, **revision_event_data(revision, draft=draft))
    return draft


@transaction.atomic
def draft_update(*, user, draft_id, **fields) -> Draft:
    """Change a draft's title, type, tags, tone or audience: its editors, while it is a draft."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("edit", "Only the draft's owner, editors and the tenant's admins may change it.")
    _require_status(draft, Status.DRAFT, "changed")
    if "tags" in fields:
        fields["tags"] = list(dict.fromkeys(fields["tags"]))
    _touch(draft, **fields)
    event_record(draft.pk, DraftEvent.Kind.DRAFT, changed=sorted(fields), by=user.username)
    return draft


@transaction.atomic
def collaborators_set(*, user, draft_id, collaborators: list[dict]) -> Draft:
    """Share the draft with exactly these tenant members, each with a role: its owner and tenant admins."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("manage", "Only the draft's owner and the tenant's admins may share it.")
    _collaborators_write(draft, collaborators)
    _touch(draft)
    event_record(draft.pk, DraftEvent.Kind.DRAFT, changed=["collaborators"], by=user.username)
    return draft


def _require_status(draft: Draft, status: str, verb: str) -> None:
    if draft.status != status:
        raise Conflict(f"The draft is {draft.status.replace('_', ' ')}: only a draft can be {verb} "
                       f"(request changes to edit one in review).", details={"status": draft.status})


# --- revisions ----------------------------------------------------------------------------------------

IF_MATCH = re.compile(r'\s*(?:W/)?"?(\d{1,9})(?:\.(\d{1,9}))?"?\s*')


def if_match_parse(value: str | None) -> tuple[int, int | None]:
    """(revision number, saves) from If-Match: the ETag `"3.2"` (exact) or a bare number `3`."""
    if not value:
        raise PreconditionRequired()
    found = IF_MATCH.fullmatch(value)
    if found is None:
        raise Invalid.field("If-Match", 'Expected the draft\'s ETag ("3.2") or a revision number (3).')
    return int(found[1]), int(found[2]) if found[2] else None


@dataclass
class SaveResult:
    draft: Draft
    revision: Revision
    changed: bool = True  # False: the content was the current revision's already
    created: bool = True  # False: coalesced into the latest revision (or nothing changed)
    merged: bool = False
    base_number: int | None = None
    their_number: int | None = None


def _based_exactly_on(revision: Revision, saves: int | None, user) -> bool:
    """Whether the client's base is this revision as it is now. A bare number is, when the revision was
    saved once or the caller coalesced it themselves; after another author's coalesced saves it is not
    known which state the caller saw (the ETag says)."""
    if saves is not None:
        return saves == revision.saves
    return revision.saves == 1 or revision.author_id == user.pk


def _stale(draft: Draft, current: Revision, message: str) -> Conflict:
    return Conflict(message, details={"current_revision": current.number, "etag": draft.etag,
                                      "content": current.content, "saved_at": current.saved_at.isoformat(),
                                      "author": current.author.username if current.author else None})


def three_way_merge(base: str, mine: str, theirs: str) -> str | None:
    """The two edits of `base` merged line by line, or None when they touch the same lines."""
    merge = Merge3(base.splitlines(True), mine.splitlines(True), theirs.splitlines(True))
    if any(region[0] == "conflict" for region in merge.merge_regions()):
        return None
    return "".join(merge.merge_lines())


@transaction.atomic
def revision_save(*, user, draft_id, content: str, if_match: str | None, checkpoint: bool = False) -> SaveResult:
    """Save the content as based on the If-Match revision. Current base: a new revision, or, when the
    caller saved the latest one within DRAFT_COALESCE_SECONDS and neither it nor this save is a checkpoint,
    that revision updated in place (its number kept). Stale base: merged three-way with what was saved
    since into a new revision when the edits touch different lines; a 409 with the current revision when
    they touch the same ones (or the base is no longer known)."""
    content_check(content)
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("edit", "Only the draft's owner, editors and the tenant's admins may save it.")
    number, saves = if_match_parse(if_match)
    _require_status(draft, Status.DRAFT, "edited")
    current = Revision.objects.select_related("author").get(draft=draft, number=draft.revision)
    now = timezone.now()
    if number == current.number and _based_exactly_on(current, saves, user):
        if content == current.content:
            return SaveResult(draft, current, changed=False, created=False)
        coalesce = (not checkpoint and not current.checkpoint and current.kind == Revision.Kind.SAVE
                    and current.author_id == user.pk
                    and now - current.saved_at <= timedelta(seconds=settings.DRAFT_COALESCE_SECONDS))
        if coalesce:
            Revision.objects.filter(pk=current.pk).update(content=content, saves=F("saves") + 1, saved_at=now)
            current.refresh_from_db()
            _touch(draft, content=content, revision_saves=current.saves)
            event_record(draft.pk, DraftEvent.Kind.REVISION,
                         **revision_event_data(current, draft=draft, coalesced=True))
            return SaveResult(draft, current, created=False)
        return _new_revision(draft, user=user, content=content, kind=Revision.Kind.SAVE, checkpoint=checkpoint)
    base = Revision.objects.filter(draft=draft, number=number).first() if number <= current.number else None
    if base is None or not _based_exactly_on(base, saves, user):
        raise _stale(draft, current, f"The draft changed since the revision this save is based on "
                                     f"({if_match.strip()}), and that revision is not known as you saw it: "
                                     f"reload revision {current.number} and apply your edit again.")
    merged = three_way_merge(base.content, content, current.content)
    if merged is None:
        raise _stale(draft, current, f"Revision {current.number} changed the same part of the document as this "
                                     f"save (based on {base.number}): reload it and apply your edit again.")
    content_check(merged)
    result = _new_revision(draft, user=user, content=merged, kind=Revision.Kind.MERGE, checkpoint=checkpoint,
                           base_number=base.number, their_number=current.number)
    result.merged, result.base_number, result.their_number = True, base.number, current.number
    return result


def _new_revision(draft: Draft, *, user, content: str, kind: str, checkpoint: bool = False,
                  base_number: int | None = None, their_number: int | None = None) -> SaveResult:
    revision = Revision.objects.create(draft=draft, number=draft.revision + 1, content=content, author=user,
                                       kind=kind, checkpoint=checkpoint, base_number=base_number,
                                       their_number=their_number)
    _touch(draft, content=content, revision=revision.number, revision_saves=1)
    event_record(draft.pk, DraftEvent.Kind.REVISION, **revision_event_data(revision, draft=draft))
    return SaveResult(draft, revision)


@transaction.atomic
def revision_restore(*, user, draft_id, number: int) -> SaveResult:
    """An earlier revision's content as a new revision (history is never rewritten)."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("edit", "Only the draft's owner, editors and the tenant's admins may restore a revision.")
    _require_status(draft, Status.DRAFT, "edited")
    source = Revision.objects.filter(draft=draft, number=number).first()
    if source is None:
        raise NotFound(f"The draft has no revision {number}.")
    return _new_revision(draft, user=user, content=source.content, kind=Revision.Kind.RESTORE,
                         base_number=source.number)


# --- status -------------------------------------------------------------------------------------------
# Each transition is one conditional UPDATE (the status it moves from is its guard), so two callers (a
# person in the API and a governance escalation, say) never both move a draft. `user=None` is the system
# acting for a decision made elsewhere (an escalation approved, the outbox's publish): no role is checked.


def _draft_of(user, draft_id) -> tuple[Draft, object]:
    if user is None:
        draft = Draft.objects.filter(pk=draft_id).first()
        if draft is None:
            raise NotFound("No such draft.")
        return draft, None
    return draft_for(user, draft_id)


def _transition(*, draft: Draft, user, sources: tuple[str, ...], target: str, note: str = "", **fields) -> Draft:
    now = timezone.now()
    moved = Draft.objects.filter(pk=draft.pk, status__in=sources).update(
        status=target, status_note=note, touched_at=now, **{name: now for name in fields})
    if not moved:
        current = Draft.objects.filter(pk=draft.pk).values_list("status", flat=True).first()
        raise Conflict(f"The draft is {str(current).replace('_', ' ')}: it cannot become "
                       f"{target.replace('_', ' ')} from there.", details={"status": current})
    event_record(draft.pk, DraftEvent.Kind.STATUS, **{"from": draft.status, "to": target, "note": note,
                                                     "by": user.username if user else None})
    draft.refresh_from_db()
    return draft


@transaction.atomic
def draft_submit(*, draft_id, user=None, note: str = "") -> Draft:
    """draft → in_review: its owner, editors or a tenant admin asks for review."""
    draft, access = _draft_of(user, draft_id)
    if access is not None:
        access.require("submit", "Only the draft's owner, editors and the tenant's admins may submit it.")
    return _transition(draft=draft, user=user, sources=(Status.DRAFT,), target=Status.IN_REVIEW, note=note,
                       submitted_at=True)


def _require_decider(access) -> None:
    if access is not None:
        access.require("decide", "Only the tenant's approvers and admins, other than the draft's owner, may "
                                 "decide on it.")


@transaction.atomic
def draft_request_changes(*, draft_id, note: str, user=None) -> Draft:
    """in_review → draft, with what should change: an approver (or the escalation that decided it)."""
    if not note.strip():
        raise Invalid.field("note", "Say what should change.")
    draft, access = _draft_of(user, draft_id)
    _require_decider(access)
    return _transition(draft=draft, user=user, sources=(Status.IN_REVIEW,), target=Status.DRAFT, note=note)


@transaction.atomic
def draft_approve(*, draft_id, user=None, note: str = "") -> Draft:
    """in_review → approved: an approver other than its owner (or the escalation that decided it)."""
    draft, access = _draft_of(user, draft_id)
    _require_decider(access)
    return _transition(draft=draft, user=user, sources=(Status.IN_REVIEW,), target=Status.APPROVED, note=note,
                       approved_at=True)


@transaction.atomic
def draft_publish_mark(*, draft_id, user=None, note: str = "") -> Draft:
    """approved → published: the outbox sent it (or its owner or an admin says it went out)."""
    draft, access = _draft_of(user, draft_id)
    if access is not None:
        access.require("manage", "Only the draft's owner and the tenant's admins may mark it published.")
    return _transition(draft=draft, user=user, sources=(Status.APPROVED,), target=Status.PUBLISHED, note=note,
                       published_at=True)


@transaction.atomic
def draft_archive(*, draft_id, user=None, note: str = "") -> Draft:
    """Any status but archived → archived: its owner or a tenant admin (or the retention job)."""
    draft, access = _draft_of(user, draft_id)
    if access is not None:
        access.require("manage", "Only the draft's owner and the tenant's admins may archive it.")
    return _transition(draft=draft, user=user, target=Status.ARCHIVED, note=note, archived_at=True,
                       sources=(Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.PUBLISHED))
