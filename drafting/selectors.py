"""Reading drafts, and who may do what with one.

Who may see a draft (a demanding team's rule: work in progress is private until it is shared or published):
- its owner, its collaborators (editor, commenter, viewer) and the tenant's admins: always;
- the tenant's approvers (and admins): while it is in review or approved, so they can review it;
- every member of the tenant: once it is published (and when a published draft is archived).
To anyone else in the tenant, and to every other tenant, it does not exist (404).

What each may do: the owner, editors and admins save (only while the status is `draft`); they, commenters,
and approvers while the draft is in review, comment; the owner and admins share it, change its details,
submit and archive it (editors may submit too); approvers and admins other than its owner approve or
request changes."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from core.errors import Forbidden, NotFound
from core.models import Membership
from core.selectors import membership_for_user
from drafting.models import Collaborator, Comment, Draft, DraftEvent, Revision, Template, TemplateVersion

REVIEWABLE = (Draft.Status.IN_REVIEW, Draft.Status.APPROVED)


@dataclass(frozen=True)
class Access:
    """What one person may do with one draft."""

    role: str  # owner, editor, commenter, viewer, admin, reviewer or reader
    read: bool
    comment: bool
    edit: bool  # save, restore, change its details: by role (the service also needs the status `draft`)
    manage: bool
    submit: bool
    decide: bool

    def require(self, capability: str, message: str) -> None:
        if not getattr(self, capability):
            raise Forbidden(message)


def drafts_visible_to(user) -> QuerySet[Draft]:
    """The drafts of the caller's tenant that the caller may see (the rule above)."""
    membership = membership_for_user(user)
    drafts = Draft.objects.filter(tenant_id=membership.tenant_id)
    if membership.role == Membership.Role.ADMIN:
        return drafts
    shared = Exists(Collaborator.objects.filter(draft=OuterRef("pk"), user_id=user.pk))
    visible = Q(owner_id=user.pk) | Q(shared) | Q(status=Draft.Status.PUBLISHED) | Q(
        status=Draft.Status.ARCHIVED, published_at__isnull=False)
    if membership.role in Membership.DECIDING_ROLES:
        visible |= Q(status__in=REVIEWABLE)
    return drafts.filter(visible)


def draft_access(user, draft: Draft) -> Access:
    """What the caller may do with the draft (they may see it: drafts_visible_to found it)."""
    membership = membership_for_user(user)
    admin = membership.role == Membership.Role.ADMIN
    decider = membership.role in Membership.DECIDING_ROLES
    if draft.owner_id == user.pk:
        role = "owner"
    else:
        role = (Collaborator.objects.filter(draft=draft, user_id=user.pk).values_list("role", flat=True).first()
                or ("admin" if admin else "reviewer" if decider and draft.status in REVIEWABLE else "reader"))
    owner_like = role in ("owner", "admin") or admin
    editor = owner_like or role == Collaborator.Role.EDITOR
    in_review = draft.status == Draft.Status.IN_REVIEW
    return Access(role=role, read=True,
                  comment=editor or role == Collaborator.Role.COMMENTER or (decider and in_review),
                  edit=editor,
                  manage=owner_like, submit=editor,
                  decide=decider and draft.owner_id != user.pk)


def draft_for(user, draft_id, *, for_update: bool = False) -> tuple[Draft, Access]:
    """The draft the caller may see, and what they may do with it; NotFound otherwise (another tenant's,
    or one not shared with them, looks like none)."""
    drafts = drafts_visible_to(user)
    if for_update:
        # The visibility filter's subquery may not be locked: find the id, then lock the row alone.
        if not drafts.filter(pk=draft_id).exists():
            raise NotFound("No such draft.")
        drafts = Draft.objects.select_for_update().filter(pk=draft_id)
    draft = drafts.select_related("owner").filter(pk=draft_id).first()
    if draft is None:
        raise NotFound("No such draft.")
    return draft, draft_access(user, draft)


def drafts_list(user, *, status: str | None = None, doc_type: str | None = None, tag: str | None = None,
                owner: str | None = None, q: str | None = None) -> QuerySet[Draft]:
    """The caller's visible drafts, filtered, most recently touched first."""
    drafts = drafts_visible_to(user).select_related("owner")
    if status:
        drafts = drafts.filter(status=status)
    if doc_type:
        drafts = drafts.filter(doc_type=doc_type)
    if tag:
        drafts = drafts.filter(tags__contains=[tag])
    if owner:
        drafts = drafts.filter(owner__username=owner)
    if q:
        drafts = drafts.filter(Q(title__icontains=q) | Q(content__icontains=q))
    return drafts.defer("content")


def revisions_of(draft: Draft) -> QuerySet[Revision]:
    return Revision.objects.filter(draft=draft).select_related("author").order_by("-number")


def revision_of(draft: Draft, number: int) -> Revision:
    revision = Revision.objects.filter(draft=draft, number=number).select_related("author").first()
    if revision is None:
        raise NotFound(f"The draft has no revision {number}.")
    return revision


def collaborators_of(draft: Draft) -> QuerySet[Collaborator]:
    return Collaborator.objects.filter(draft=draft).select_related("user")


def comments_of(draft: Draft, *, resolved: bool | None = None) -> QuerySet[Comment]:
    """The draft's threads (top-level comments, oldest first) with their replies."""
    comments = (Comment.objects.filter(draft=draft, parent__isnull=True).select_related("author", "resolved_by")
                .prefetch_related("replies__author"))
    if resolved is not None:
        comments = comments.filter(resolved_at__isnull=not resolved)
    return comments


def comment_of(draft: Draft, comment_id: int) -> Comment:
    comment = Comment.objects.filter(draft=draft, pk=comment_id).select_related("author").first()
    if comment is None:
        raise NotFound("No such comment.")
    return comment


def events_after(draft_id, after: int, limit: int = 200) -> list[DraftEvent]:
    return list(DraftEvent.objects.filter(draft_id=draft_id, id__gt=after).order_by("id")[:limit])


def templates_of(user) -> QuerySet[Template]:
    return Template.objects.filter(tenant_id=membership_for_user(user).tenant_id).select_related("created_by")


def template_for(user, template_id) -> Template:
    template = templates_of(user).filter(pk=template_id).first()
    if template is None:
        raise NotFound("No such template.")
    return template


def template_version_of(template: Template, number: int | None = None) -> TemplateVersion:
    version = TemplateVersion.objects.filter(template=template, number=number or template.version).first()
    if version is None:
        raise NotFound(f"The template has no version {number}.")
    return version


def export_inputs(draft: Draft, revision: Revision) -> tuple[dict, dict, list[dict]]:
    """What drafting.exports.export takes, for one revision: the draft's details (not its status or times,
    which move while the revision does not), the revision, and the history up to it (later revisions are
    not its history), so exporting the revision again gives the same bytes."""
    details = {"id": str(draft.pk), "title": draft.title, "document_type": draft.doc_type, "tags": list(draft.tags),
               "tone": draft.tone, "audience": draft.audience, "owner": draft.owner.username,
               "created_at": draft.created_at.isoformat()}

    def described(row: Revision) -> dict:
        return {"number": row.number, "kind": row.kind, "author": row.author.username if row.author else None,
                "saves": row.saves, "created_at": row.created_at.isoformat(), "saved_at": row.saved_at.isoformat()}

    history = [described(row) for row in Revision.objects.filter(draft=draft, number__lte=revision.number)
               .select_related("author").defer("content").order_by("number")]
    return details, {**described(revision), "content": revision.content}, history
