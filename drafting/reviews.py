"""Reviews: a draft submitted for review is decided by the tenant's reviewers through governance, like a
task: the same ladder, channels (admin approval screens, /api/escalations, Slack buttons, SMS replies),
four-eyes rule and audit chain. Governance knows a review only by its id (the escalation's `task_id`) and
its type, `drafting.review`.

- `review_submit`: draft → in_review, a Review row for the revision, and the escalation opened.
- The direct `approve` / `request_changes` actions decide that escalation (escalation_approve /
  escalation_reject): there is one path to a decision, whatever the channel.
- `review_withdraw`: the escalation is withdrawn and the draft goes back to `draft`.
- `review_settle` applies a closed escalation to the review and the draft: registered as governance's
  on_escalation_closed hook, called in the deciding transaction by the direct actions, and by the sweep
  (`reviews_settle_lost`) for a hook lost when a process died after the decision's commit. Every move is
  conditional on the review being open, so whichever comes first applies it, once."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.accounts import public_url
from core.errors import Conflict, Invalid
from drafting import services
from drafting.models import Draft, DraftEvent, Review
from drafting.selectors import draft_for
from governance import services as governance
from governance.hooks import EscalationOutcome
from governance.models import Escalation
from governance.policy import TaskFacts
from governance.selectors import escalation_for_task, escalations_closed_before, policy_current

logger = logging.getLogger(__name__)

REVIEW_TASK_TYPE = "drafting.review"
PREVIEW_CHARS = 1500


def _open_review(draft: Draft) -> Review:
    review = Review.objects.select_for_update().filter(draft=draft, status=Review.Status.OPEN).first()
    if review is None:
        raise Conflict("The draft has no open review.", details={"status": draft.status})
    return review


def _review_parameters(draft: Draft, *, submitted_by: str) -> dict:
    """What the approval screens show: what it is, which revision, and the start of its text."""
    preview = draft.content[:PREVIEW_CHARS] + ("…" if len(draft.content) > PREVIEW_CHARS else "")
    return {"draft": str(draft.pk), "title": draft.title, "doc_type": draft.doc_type, "revision": draft.revision,
            "owner": draft.owner.get_username(), "submitted_by": submitted_by,
            "url": public_url(f"/api/drafts/{draft.pk}"), "preview": preview}


@transaction.atomic
def review_submit(*, user, draft_id, note: str = "", correlation_id: str = "") -> Review:
    """draft → in_review, and an escalation to the tenant's reviewers for this revision. The requester
    governance sees is the draft's owner, so its four-eyes rule keeps the draft's: whoever submitted it,
    the owner never approves their own draft (unless the policy allows self-approval)."""
    draft = services.draft_submit(draft_id=draft_id, user=user, note=note)
    draft = Draft.objects.select_related("owner").get(pk=draft.pk)
    review = Review.objects.create(tenant_id=draft.tenant_id, draft=draft, revision=draft.revision,
                                   requested_by=user, request_note=note)
    policy, version = policy_current(tenant_id=draft.tenant_id)
    facts = TaskFacts(task_type=REVIEW_TASK_TYPE, risk="low", external_side_effects=False,
                      estimated_cost=Decimal(0))
    escalation = governance.escalation_open(
        tenant_id=draft.tenant_id, task_id=review.pk, facts=facts, requester=draft.owner,
        summary=f"Review of the {draft.get_doc_type_display().lower()} “{draft.title}”, revision {draft.revision}"
                + (f": {note}" if note else ""),
        parameters=_review_parameters(draft, submitted_by=user.get_username()),
        reasons=["a draft needs its reviewers' approval before it is published"], policy=policy,
        policy_version=version, correlation_id=correlation_id, channel="api")
    review.escalation_id = escalation.pk
    review.save(update_fields=["escalation_id"])
    return review


def _open_escalation(review: Review) -> Escalation:
    escalation = escalation_for_task(task_id=review.pk)
    if escalation is None or escalation.status != Escalation.Status.OPEN:
        # Decided already: its outcome is on its way to the draft (the hook, or the sweep).
        raise Conflict("This review was decided already; the first decision stands.")
    return escalation


@transaction.atomic
def review_decide(*, user, draft_id, approve: bool, note: str = "", channel: str = "api",
                  correlation_id: str = "") -> Draft:
    """Approve the draft in review, or request changes (`note` says what): a decision on its escalation,
    with governance's rules (the tier's approvers, four-eyes, first decision wins, audited), applied to the
    draft in the same transaction."""
    if not approve and not note.strip():
        raise Invalid.field("note", "Say what should change.")
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("decide", "Only the tenant's approvers and admins, other than the draft's owner, may decide on it.")
    escalation = _open_escalation(_open_review(draft))
    decide = governance.escalation_approve if approve else governance.escalation_reject
    decided = decide(escalation_id=escalation.pk, user=user, channel=channel, correlation_id=correlation_id,
                     reason=note.strip() or "approved")
    if decided.status != Escalation.Status.OPEN:  # open: one vote of a quorum, the draft stays in review
        review_settle(decided, EscalationOutcome.APPROVED if approve else EscalationOutcome.REJECTED)
    draft.refresh_from_db()
    return draft


@transaction.atomic
def review_withdraw(*, user, draft_id, note: str = "", correlation_id: str = "") -> Draft:
    """in_review → draft before anyone decided: its owner, editors or a tenant admin (who may submit it)."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("submit", "Only the draft's owner, editors and the tenant's admins may withdraw its review.")
    review = _open_review(draft)
    escalation = governance.escalation_withdraw(task_id=review.pk, actor=user.get_username(),
                                                correlation_id=correlation_id)
    if escalation is None:
        _open_escalation(review)  # decided meanwhile: a Conflict saying so
    reason = f"withdrawn by {user.get_username()}" + (f": {note}" if note.strip() else "")
    _apply(review, outcome=EscalationOutcome.WITHDRAWN, decided_by=None, reason=reason)
    draft.refresh_from_db()
    return draft


# --- applying a closed escalation --------------------------------------------------------------------

REVIEW_STATUS = {EscalationOutcome.APPROVED: Review.Status.APPROVED,
                 EscalationOutcome.REJECTED: Review.Status.CHANGES_REQUESTED,
                 EscalationOutcome.EXPIRED: Review.Status.EXPIRED,
                 EscalationOutcome.WITHDRAWN: Review.Status.WITHDRAWN}


def _apply(review: Review, *, outcome: EscalationOutcome, decided_by, reason: str) -> bool:
    """The review closed and its draft moved, if the review is still open (else nothing: applied already)."""
    closed = Review.objects.filter(pk=review.pk, status=Review.Status.OPEN).update(
        status=REVIEW_STATUS[outcome], decided_by=decided_by, note=reason[:5000], decided_at=timezone.now())
    if not closed:
        return False
    try:
        with transaction.atomic():
            if outcome == EscalationOutcome.APPROVED:
                services.draft_approve(draft_id=review.draft_id, note=reason)
            elif outcome == EscalationOutcome.REJECTED:
                services.draft_request_changes(draft_id=review.draft_id, note=reason)
            elif outcome == EscalationOutcome.EXPIRED:
                services.draft_request_changes(draft_id=review.draft_id, note=f"Review expired: {reason}")
            else:
                services.draft_request_changes(draft_id=review.draft_id, note=f"Review {reason}")
    except Conflict:
        # The draft moved meanwhile (archived): the review still records its decision.
        logger.info("review %s decided (%s) but its draft is no longer in review", review.pk, outcome)
    return True


@transaction.atomic
def review_settle(escalation: Escalation, outcome: EscalationOutcome) -> bool:
    """Apply a closed escalation of a review: approved → the draft is approved; rejected → back to draft
    with what should change; expired (the policy's default rejects) → back to draft; withdrawn → back to
    draft. Not a review's escalation (a task's): nothing. Conditional, so once whoever calls it."""
    if escalation.task_type != REVIEW_TASK_TYPE or outcome == EscalationOutcome.REPLIED:
        return False
    review = Review.objects.filter(pk=escalation.task_id, tenant_id=escalation.tenant_id).first()
    if review is None or review.status != Review.Status.OPEN:
        return False
    decided_by = escalation.decided_by if escalation.decided_by_id else None
    reason = escalation.decision_reason or str(outcome)
    if outcome == EscalationOutcome.WITHDRAWN:
        reason = "withdrawn"
    return _apply(review, outcome=EscalationOutcome(outcome), decided_by=decided_by, reason=reason)


def review_on_escalation_closed(escalation: Escalation, outcome: EscalationOutcome) -> None:
    """Governance hook, after the decision committed: a quick conditional update of the review and its
    draft (nothing for a task's escalation)."""
    if escalation.task_type == REVIEW_TASK_TYPE:
        review_settle(escalation, outcome)


def reviews_settle_lost(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
    """Reviews still open although their escalation closed (the process that committed the decision died
    before its hook ran): apply the outcome now, with the hook's own code, so once."""
    open_reviews = Review.objects.filter(status=Review.Status.OPEN)
    closed = escalations_closed_before(before=timezone.now() - older_than, limit=limit,
                                       task_ids=open_reviews.values("pk"))
    settled = sum(review_settle(escalation, outcome) for escalation, outcome in closed)
    withdrawn = Escalation.objects.filter(task_id__in=open_reviews.values("pk"), status=Escalation.Status.CANCELLED,
                                          decided_at__lt=timezone.now() - older_than)[:limit]
    settled += sum(review_settle(escalation, EscalationOutcome.WITHDRAWN) for escalation in withdrawn)
    return settled


# --- the draft's history on the escalation page ----------------------------------------------------------


def review_history(*, tenant_id: int, task_id) -> list[dict]:
    """The draft's status changes, for the review's escalation page (governance's task_history provider;
    nothing for a task's id)."""
    draft_id = Review.objects.filter(pk=task_id, tenant_id=tenant_id).values_list("draft_id", flat=True).first()
    if draft_id is None:
        return []
    events = DraftEvent.objects.filter(draft_id=draft_id, kind=DraftEvent.Kind.STATUS).order_by("id")
    return [{"created_at": event.created_at, "from_status": event.data.get("from"), "to_status": event.data.get("to"),
             "actor": event.data.get("by") or "system", "note": event.data.get("note", "")} for event in events]


# --- the transition endpoint's actions -----------------------------------------------------------------


def _approve(*, user, draft_id, note: str = "", correlation_id: str = ""):
    return review_decide(user=user, draft_id=draft_id, approve=True, note=note, correlation_id=correlation_id)


def _request_changes(*, user, draft_id, note: str = "", correlation_id: str = ""):
    return review_decide(user=user, draft_id=draft_id, approve=False, note=note, correlation_id=correlation_id)


def _submit(*, user, draft_id, note: str = "", correlation_id: str = ""):
    review_submit(user=user, draft_id=draft_id, note=note, correlation_id=correlation_id)
    return draft_for(user, draft_id)[0]


def _plain(transition):
    return lambda *, user, draft_id, note="", correlation_id="": transition(user=user, draft_id=draft_id, note=note)


@transaction.atomic
def _archive(*, user, draft_id, note: str = "", correlation_id: str = ""):
    """Archiving a draft in review withdraws its review first (nobody decides on an archived draft)."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("manage", "Only the draft's owner and the tenant's admins may archive it.")
    review = Review.objects.filter(draft=draft, status=Review.Status.OPEN).first()
    if review is not None:
        governance.escalation_withdraw(task_id=review.pk, actor=user.get_username(), correlation_id=correlation_id)
        Review.objects.filter(pk=review.pk, status=Review.Status.OPEN).update(
            status=Review.Status.WITHDRAWN, note="the draft was archived", decided_at=timezone.now())
    return services.draft_archive(draft_id=draft_id, user=user, note=note)


TRANSITIONS = {"submit": _submit, "request_changes": _request_changes, "approve": _approve,
               "withdraw": review_withdraw, "publish": _plain(services.draft_publish_mark), "archive": _archive}


def draft_transition(*, user, draft_id, action: str, note: str = "", correlation_id: str = "") -> Draft:
    """One of TRANSITIONS by name, as the caller: submit opens a review, approve and request_changes decide
    it, withdraw takes it back; publish (marking it sent by hand) and archive move the draft."""
    if action not in TRANSITIONS:
        raise Invalid.field("action", f"One of {', '.join(TRANSITIONS)}.")
    return TRANSITIONS[action](user=user, draft_id=draft_id, note=note, correlation_id=correlation_id)
