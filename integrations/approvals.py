"""Escalations over chat. When an escalation opens (or moves up a tier), each approver who may decide
it is told on every channel they have, with a single-use code of their own (Slack buttons carry it
too). `YES <code>` / `NO <code> <reason>` or a button decides through governance's own services, with
the same rules as the admin; the first decision from any channel wins. Once decided, the approval
messages still queued are cancelled, the Slack ones are edited to say who decided, and the other
approvers' SMS/WhatsApp get a short follow-up."""

import json
import logging
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import queueing
from core.errors import ApplicationError, error_text
from core.models import Membership
from emma.models import AgentTask
from governance.models import Escalation, EscalationVote
from governance.selectors import escalations_waiting_for
from governance.services import escalation_approve, escalation_approvers, escalation_reject
from integrations import outbound, selectors
from integrations.models import Channel, ChannelIdentity, DecisionCode, OutboundMessage
from integrations.slack import messages as slack_messages

logger = logging.getLogger(__name__)

CODE_DIGITS = 6  # digits only: typed on a phone keypad, and never mistaken for a word
APPROVAL_REQUEST = "approval_request"
APPROVAL_REMINDER = "approval_reminder"
ASKING = (APPROVAL_REQUEST, APPROVAL_REMINDER)  # messages with a code to answer: settled once decided
WAITING_TOLD_AT_ONCE = 200  # escalations a new delegate is told of when the delegation starts
INVALID_CODE = ("That code is not valid: it may be mistyped, already used, expired, or meant for someone else. "
                "Nothing was changed.")


# --- telling approvers ----------------------------------------------------------------------------


def _code_for(escalation: Escalation, approver) -> DecisionCode:
    """The approver's code for this escalation, drawn once; a clash with another open code draws again."""
    for _ in range(20):
        existing = DecisionCode.objects.filter(escalation_id=escalation.pk, approver=approver).first()
        if existing:
            return existing
        try:
            with transaction.atomic():
                return DecisionCode.objects.create(
                    tenant_id=escalation.tenant_id, escalation_id=escalation.pk, approver=approver,
                    code=f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}", expires_at=escalation.deadline)
        except IntegrityError:
            continue
    raise RuntimeError("could not draw a free decision code")


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _quorum_note(escalation: Escalation) -> str:
    """"It needs 2 approvals (1 so far). " for a tier that more than one person approves."""
    if escalation.quorum <= 1:
        return ""
    return f"It needs {escalation.quorum} approvals ({escalation.approvals} so far). "


def request_text(escalation: Escalation, code: str, *, buttons: bool, on_behalf_of=None) -> str:
    """What the approver reads: what, from whom, why it needs them, and how to answer (for whom, when a
    delegate reads it; how many approvals, for a quorum). An agent's tool call shows the tool and its
    arguments (to edit them or reply to the agent, use the admin or the API)."""
    how = ("Approve or Reject below, or reply" if buttons else "Reply") + \
        f" YES {code} to approve or NO {code} <reason> to reject"
    if on_behalf_of is not None:
        how = f"You decide for {on_behalf_of.get_username()}, who delegated to you. {how}"
    how = _quorum_note(escalation) + how
    if escalation.step is not None:
        arguments = _short(json.dumps(escalation.parameters, ensure_ascii=False, sort_keys=True), 400)
        what = (f"an agent run of {escalation.requester.get_username()} wants to call {escalation.tool} with "
                f"{arguments}" + (f" (it says: “{_short(escalation.agent_reason, 200)}”)" if escalation.agent_reason
                                  else ""))
        return (f"Emma needs your approval: {what}. Risk {escalation.risk}. "
                f"Why: {'; '.join(escalation.reasons) or 'policy'}. {how}, before {escalation.deadline:%H:%M} UTC.")
    summary = _short(escalation.summary or escalation.task_type, 300)
    return (f"Emma needs your approval: {escalation.task_type} from {escalation.requester.get_username()}: "
            f"“{summary}”. Risk {escalation.risk}, est. cost {escalation.estimated_cost:.2f}. "
            f"Why: {'; '.join(escalation.reasons) or 'policy'}. {how}, before "
            f"{escalation.deadline:%H:%M} UTC.")


def escalation_notify(*, escalation_id) -> int:
    """Queue one approval request per approver identity on an available channel; how many requests the
    escalation has. Idempotent: a second call queues nothing new."""
    escalation = Escalation.objects.select_related("requester").filter(pk=escalation_id).first()
    if escalation is None or escalation.status != Escalation.Status.OPEN:
        return 0
    if not ChannelIdentity.objects.filter(tenant_id=escalation.tenant_id).exists():
        return 0  # a tenant without chat: no approver query per escalation
    standing_for = {user.pk: on_behalf_of for user, on_behalf_of in escalation_approvers(escalation)}
    queued = 0
    with transaction.atomic():
        for identity in selectors.identities_of(user_ids=standing_for):
            if identity.tenant_id != escalation.tenant_id or not outbound.channel_available(identity.channel):
                continue
            code = _code_for(escalation, identity.user).code
            slack = identity.channel == Channel.SLACK
            text = request_text(escalation, code, buttons=slack, on_behalf_of=standing_for[identity.user_id])
            outbound.message_queue(
                tenant_id=escalation.tenant_id, channel=identity.channel, to=identity.address, text=text,
                blocks=slack_messages.approval_blocks(text=text, code=code, escalation_id=escalation.pk) if slack
                else None, purpose=APPROVAL_REQUEST, idempotency_key=f"approval:{escalation.pk}:{identity.pk}",
                recipient_id=identity.user_id, escalation_id=escalation.pk, task_id=escalation.task_id)
            queued += 1
    return queued


# --- deciding by code or button -------------------------------------------------------------------


def decision_by_code(*, user, code: str, approve: bool, reason: str, channel: str,
                     correlation_id: str = "") -> tuple[bool, str]:
    """Decide the escalation behind the user's own open code, through governance's services: whether
    it was decided, and the reply to send back. A wrong, used, expired or someone else's code changes
    nothing."""
    found = selectors.open_code(code=code, approver_id=user.pk)
    if found is None:
        return False, _why_not_open(code=code, approver_id=user.pk)
    if not approve and not reason:
        return False, f"Please give a reason: NO {code} <reason>. Nothing was changed."
    decide = escalation_approve if approve else escalation_reject
    try:
        with transaction.atomic():
            escalation = decide(escalation_id=found.escalation_id, user=user, channel=channel,
                                reason=reason or f"approved by {channel}", correlation_id=correlation_id)
            DecisionCode.objects.filter(pk=found.pk).update(used_channel=channel, closed_at=timezone.now())
    except ApplicationError as exc:
        return False, f"Not decided: {error_text(exc)}"
    what = f"{escalation.task_type} from {escalation.requester.get_username()}"
    if escalation.status == Escalation.Status.OPEN:  # one vote of a quorum
        return True, (f"Your {'approval' if approve else 'rejection'} of {what} is recorded: "
                      f"{escalation.quorum_text}. It is decided once enough approvers answer.")
    return True, f"{'Approved' if approve else 'Rejected'}: {what}.{_what_follows(escalation, approve)}"


def _what_follows(escalation: Escalation, approved: bool) -> str:
    """What the decision sets off, in the reply: a task's run, an agent's next step, or (an escalation of
    another app's, a draft's review) nothing this layer can say."""
    if escalation.step is not None:
        return " The agent's run goes on."
    if not AgentTask.objects.filter(pk=escalation.task_id).exists():
        return ""
    return " The task is queued." if approved else " The task will not run."


def _why_not_open(*, code: str, approver_id: int) -> str:
    """A code that was the approver's but closed because someone decided first says who did."""
    closed = selectors.closed_code(code=code, approver_id=approver_id)
    escalation = closed and Escalation.objects.select_related("decided_by").filter(pk=closed.escalation_id).first()
    if escalation and escalation.status == Escalation.Status.OPEN and closed.used_channel:
        return f"You have answered already: {escalation.quorum_text or 'it counts once'}. Nothing was changed."
    if escalation and escalation.status in (Escalation.Status.APPROVED, Escalation.Status.REJECTED) \
            and escalation.decided_by_id:
        return (f"Already {escalation.status} by {escalation.decided_by.get_username()} via "
                f"{escalation.decision_channel or 'another channel'}; the first decision stands. Nothing was changed.")
    return INVALID_CODE


# --- after the decision ----------------------------------------------------------------------------


def _decider(escalation: Escalation) -> str:
    """"bob", or "bob for alice" when a delegate decided."""
    name = escalation.decided_by.get_username()
    return f"{name} for {escalation.decided_for.get_username()}" if escalation.decided_for_id else name


def _headline(escalation: Escalation, outcome: str) -> str:
    if escalation.decided_by_id and outcome in ("approved", "rejected"):
        via = f" via {escalation.decision_channel}" if escalation.decision_channel else ""
        reason = f": {escalation.decision_reason}" if escalation.decision_reason else ""
        quorum = f" ({escalation.quorum_text})" if escalation.quorum_text else ""
        return f"{outcome.capitalize()} by {_decider(escalation)}{via}{quorum}{reason}"
    if outcome == "approved":
        return "Approved by default: no decision before the deadline"
    if outcome == "escalated":
        return "Moved to the next approvers: no decision before the deadline"
    if outcome == "withdrawn":
        return "Withdrawn: the task was cancelled"
    return "Expired: no decision before the deadline; the task will not run"


def _settle_messages(escalation: Escalation, outcome: str) -> None:
    """Close the codes; cancel approval requests not yet sent; edit the Slack ones; tell the other
    approvers on SMS/WhatsApp (after a person's decision only: a timeout needs no text message)."""
    DecisionCode.objects.filter(escalation_id=escalation.pk, closed_at__isnull=True).update(closed_at=timezone.now())
    headline = _headline(escalation, outcome)
    by_person = bool(escalation.decided_by_id) and outcome in ("approved", "rejected")
    requests = OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose__in=ASKING,
                                              operation=OutboundMessage.Operation.POST).order_by("pk")
    for message in requests:
        if message.status == OutboundMessage.Status.QUEUED and OutboundMessage.objects.filter(
                pk=message.pk, status=OutboundMessage.Status.QUEUED).update(
                status=OutboundMessage.Status.CANCELLED, error=f"not needed any more: {headline}"):
            continue
        message.refresh_from_db(fields=["status"])
        if message.status not in (OutboundMessage.Status.SENT, OutboundMessage.Status.SENDING):
            continue
        if not outbound.channel_available(message.channel):
            continue
        common = {"tenant_id": message.tenant_id, "channel": message.channel, "purpose": "decision_update",
                  "idempotency_key": f"decided:{message.pk}", "recipient_id": message.recipient_id,
                  "escalation_id": escalation.pk, "task_id": escalation.task_id}
        if message.channel == Channel.SLACK:
            text = f"{headline}. {message.text}"
            outbound.message_queue(**common, to=message.to, text=text, operation=OutboundMessage.Operation.UPDATE,
                                   original_id=message.pk,
                                   blocks=slack_messages.decided_blocks(request=message.text, headline=headline))
        elif by_person and not (message.recipient_id == escalation.decided_by_id
                                and message.channel == escalation.decision_channel):
            outbound.message_queue(**common, to=message.to,
                                   text=f"Emma: {escalation.task_type} from {escalation.requester.get_username()}: "
                                        f"{headline}. No reply needed.")


def _tell_requester(escalation: Escalation, outcome: str) -> None:
    """A request made from chat that will not run: say so where it was asked (a requester who withdrew
    it knows already)."""
    if outcome in ("approved", "withdrawn"):
        return
    task = AgentTask.objects.filter(pk=escalation.task_id).only("task_type", "parameters", "tenant_id").first()
    parameters = task.parameters if task and task.task_type == "assistant.request" else {}
    channel, to = parameters.get("channel"), parameters.get("to")
    if not (channel and to) or not outbound.channel_available(channel):
        return
    identity = selectors.identity_for(channel=channel, address=to)
    if identity is None or identity.user_id != escalation.requester_id:
        return  # only ever the requester's own address
    summary = (escalation.summary or "your request")[:120]
    outbound.message_queue(tenant_id=escalation.tenant_id, channel=channel, to=identity.address,
                           text=f"Your request “{summary}” will not run. {_headline(escalation, outcome)}.",
                           purpose="outcome", idempotency_key=f"outcome:{escalation.pk}",
                           recipient_id=identity.user_id, task_id=escalation.task_id)


def escalation_settle(*, escalation_id, outcome: str) -> None:
    """After an escalation closed: its chat messages say how, its codes stop working, and a chat
    requester whose request will not run is told. A savepoint: nothing here touches the decision."""
    escalation = (Escalation.objects.select_related("requester", "decided_by", "decided_for")
                  .filter(pk=escalation_id).first())
    if escalation is None:
        return
    with transaction.atomic():
        _settle_messages(escalation, outcome)
        _tell_requester(escalation, outcome)


def escalation_opened_notify(*, escalation_id) -> int:
    """After an escalation opened: the previous tier's messages are settled, the new approvers told."""
    escalation = Escalation.objects.filter(pk=escalation_id).only("previous_id").first()
    if escalation is None:
        return 0
    if escalation.previous_id:
        with transaction.atomic():
            _settle_messages(Escalation.objects.select_related("requester").get(pk=escalation.previous_id),
                             "escalated")
    return escalation_notify(escalation_id=escalation_id)


def escalation_progress(*, escalation_id) -> int:
    """After one vote of a quorum: the Slack requests say how far it is ("1 of 2 approvals"), with the
    buttons for those who have not answered and without them for those who have; how many were updated.
    A text message is not sent for a vote: its voter got the reply, the others need not act yet."""
    escalation = Escalation.objects.select_related("requester").filter(pk=escalation_id).first()
    if escalation is None or escalation.status != Escalation.Status.OPEN:
        return 0  # decided meanwhile: the settling says how
    votes = {vote.voter_id: vote for vote in EscalationVote.objects.filter(escalation=escalation)
             .select_related("voter", "on_behalf_of")}
    progress = escalation.quorum_text + ": " + ", ".join(
        f"{vote.voter.get_username()}" + (f" for {vote.on_behalf_of.get_username()}" if vote.on_behalf_of_id else "")
        + f" {vote.outcome}" for vote in votes.values())
    updated = 0
    with transaction.atomic():
        for message in OutboundMessage.objects.filter(
                escalation_id=escalation.pk, purpose__in=ASKING, channel=Channel.SLACK,
                operation=OutboundMessage.Operation.POST, status=OutboundMessage.Status.SENT).order_by("pk"):
            answered = message.recipient_id in votes
            code = DecisionCode.objects.filter(escalation_id=escalation.pk, approver_id=message.recipient_id).first()
            blocks = (slack_messages.decided_blocks(request=message.text, headline=f"You answered. {progress}")
                      if answered or code is None else
                      slack_messages.approval_blocks(text=message.text, code=code.code, escalation_id=escalation.pk,
                                                     progress=progress))
            outbound.message_queue(
                tenant_id=message.tenant_id, channel=message.channel, to=message.to, text=f"{progress}. {message.text}",
                operation=OutboundMessage.Operation.UPDATE, original_id=message.pk, blocks=blocks,
                purpose="decision_update", recipient_id=message.recipient_id, escalation_id=escalation.pk,
                task_id=escalation.task_id,
                idempotency_key=f"progress:{message.pk}:{escalation.approvals}:{escalation.rejections}")
            updated += 1
    return updated


def escalation_remind(*, escalation_id) -> int:
    """One reminder to each approver who may decide this open escalation and has not answered, on one channel
    of theirs (the one they were asked on, else their first available); how many were queued. Idempotent:
    one per approver and escalation tier, however often it runs."""
    escalation = Escalation.objects.select_related("requester").filter(pk=escalation_id).first()
    if escalation is None or escalation.status != Escalation.Status.OPEN or escalation.deadline <= timezone.now():
        return 0
    standing_for = {user.pk: on_behalf_of for user, on_behalf_of in escalation_approvers(escalation)}
    asked_on = dict(OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose=APPROVAL_REQUEST)
                    .order_by("-pk").values_list("recipient_id", "channel"))
    chosen = {}
    for identity in selectors.identities_of(user_ids=standing_for):
        if identity.tenant_id != escalation.tenant_id or not outbound.channel_available(identity.channel):
            continue
        if identity.user_id not in chosen or identity.channel == asked_on.get(identity.user_id):
            chosen[identity.user_id] = identity
    minutes = max(1, int((escalation.deadline - timezone.now()).total_seconds() // 60))
    with transaction.atomic():
        for identity in chosen.values():
            code = _code_for(escalation, identity.user).code
            slack = identity.channel == Channel.SLACK
            text = (f"Reminder, {minutes} min left: "
                    + request_text(escalation, code, buttons=slack, on_behalf_of=standing_for[identity.user_id]))
            outbound.message_queue(
                tenant_id=escalation.tenant_id, channel=identity.channel, to=identity.address, text=text,
                blocks=slack_messages.approval_blocks(text=text, code=code, escalation_id=escalation.pk) if slack
                else None, purpose=APPROVAL_REMINDER, idempotency_key=f"reminder:{escalation.pk}:{identity.user_id}",
                recipient_id=identity.user_id, escalation_id=escalation.pk, task_id=escalation.task_id)
    return len(chosen)


def _has_chat(tenant_id: int) -> bool:
    return ChannelIdentity.objects.filter(tenant_id=tenant_id).exists()


def on_escalation_opened(escalation: Escalation) -> None:
    """Governance hook, after commit: approvers are told by a task on the integrations queue, never in
    the thread that opened the escalation (a request, the escalation sweep)."""
    from integrations.tasks import notify_approvers

    if _has_chat(escalation.tenant_id):
        queueing.publish(notify_approvers, str(escalation.pk))


def on_escalation_voted(escalation: Escalation, vote) -> None:
    """Governance hook, after commit: a quorum's progress is shown by a task on the integrations queue."""
    from integrations.tasks import show_escalation_progress

    if _has_chat(escalation.tenant_id):
        queueing.publish(show_escalation_progress, str(escalation.pk))


def on_escalation_reminder(escalation: Escalation) -> None:
    """Governance hook, after commit: the approvers who have not answered are reminded by a task."""
    from integrations.tasks import remind_approvers

    if _has_chat(escalation.tenant_id):
        queueing.publish(remind_approvers, str(escalation.pk))


def on_delegation_started(delegation) -> None:
    """Governance hook, after commit: the escalations already waiting for the approver who is away now reach
    their delegate (notifying is idempotent per approver identity, so nobody else is told twice)."""
    from integrations.tasks import notify_approvers

    if not _has_chat(delegation.tenant_id):
        return
    seat = Membership.objects.filter(user_id=delegation.delegator_id, tenant_id=delegation.tenant_id).first()
    waiting = escalations_waiting_for(user=delegation.delegator, membership=seat)
    for escalation_id in waiting.values_list("pk", flat=True)[:WAITING_TOLD_AT_ONCE]:
        queueing.publish(notify_approvers, str(escalation_id))


def on_escalation_closed(escalation: Escalation, outcome: str) -> None:
    """Governance hook, after commit: the messages are settled by a task on the integrations queue."""
    from integrations.tasks import settle_escalation

    if _has_chat(escalation.tenant_id):
        queueing.publish(settle_escalation, str(escalation.pk), str(outcome))
