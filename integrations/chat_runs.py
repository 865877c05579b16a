"""Agent runs asked for from chat: the answer goes back where the request was asked.

A request from Slack, SMS or WhatsApp becomes an `agent.run` when an LLM is configured; its chat origin is a
ChatRequest row (written with the task, in the delivery's transaction). Emma and governance call the hooks
below after their commits; the hooks only hand the work to a task on the integrations queue, so the thread
that finished the run (a worker, a decision, a sweep) never sends anything. Each message carries an
idempotency key of its run, so a repeated hook or a redelivered task queues it once. Only ever the
requester's own linked address, as for `assistant.request`."""

import logging

from core import queueing
from emma.models import AgentTask
from governance.models import Escalation
from integrations import outbound, selectors
from integrations.models import Channel, ChannelIdentity, ChatRequest, OutboundMessage

logger = logging.getLogger(__name__)
Status = AgentTask.Status

AGENT_TASK = "agent.run"
ERROR_MAX_CHARS = 300


def chat_request_record(*, task: AgentTask, identity: ChannelIdentity, channel: str, to: str) -> ChatRequest:
    """Remember where a run was asked for (once per task; a repeated submission finds the row)."""
    chat_request, _ = ChatRequest.objects.get_or_create(
        task_id=task.pk, defaults={"tenant_id": task.tenant_id, "channel": channel, "to": to, "identity": identity})
    return chat_request


def _requester_identity(chat_request: ChatRequest, submitter_id) -> ChannelIdentity | None:
    """The address the request came from, if it still speaks for the run's submitter (else nobody is told)."""
    if not outbound.channel_available(chat_request.channel):
        return None
    identity = selectors.identity_for(channel=chat_request.channel, address=chat_request.to)
    if identity is None or identity.user_id != submitter_id or identity.tenant_id != chat_request.tenant_id:
        return None
    return identity


def outcome_text(task: AgentTask) -> str:
    """What the requester reads when the run ended: the answer, or a short note of why there is none."""
    if task.status == Status.SUCCEEDED:
        answer = (task.result or {}).get("answer") if isinstance(task.result, dict) else None
        return str(answer).strip() if answer and str(answer).strip() else "Done (the agent gave no answer)."
    if task.status == Status.FAILED:
        error = (task.error or "no reason recorded")[:ERROR_MAX_CHARS]
        return f"Sorry, your request failed: {error}"
    if task.status == Status.REJECTED:
        return "Your request was not approved, so it did not run."
    if task.status == Status.EXPIRED:
        return "Your request was not approved in time, so it did not run."
    return "Your request was cancelled."


def chat_run_answer(*, task_id) -> OutboundMessage | None:
    """Queue a finished run's answer (or why there is none) to its chat requester; once per run."""
    chat_request = ChatRequest.objects.filter(task_id=task_id).first()
    task = AgentTask.objects.filter(pk=task_id, status__in=AgentTask.FINAL_STATUSES).first()
    if chat_request is None or task is None:
        return None
    identity = _requester_identity(chat_request, task.submitter_id)
    if identity is None:
        return None
    return outbound.message_queue(
        tenant_id=task.tenant_id, channel=identity.channel, to=identity.address, text=outcome_text(task),
        purpose="answer", idempotency_key=f"chat:{task.pk}:answer", task_id=task.pk, recipient_id=identity.user_id)


def chat_run_waiting_tell(*, escalation_id) -> OutboundMessage | None:
    """A run paused on a tool call: its chat requester is told what it waits for; once per tool call."""
    escalation = Escalation.objects.filter(pk=escalation_id, status=Escalation.Status.OPEN,
                                           step__isnull=False).first()
    chat_request = escalation and ChatRequest.objects.filter(task_id=escalation.task_id).first()
    if not chat_request:
        return None
    identity = _requester_identity(chat_request, escalation.requester_id)
    if identity is None:
        return None
    return outbound.message_queue(
        tenant_id=escalation.tenant_id, channel=identity.channel, to=identity.address,
        text=f"Your request is waiting for an approval of {escalation.tool}. I'll answer here once it is decided.",
        purpose="progress", idempotency_key=f"chat:{escalation.task_id}:waiting:{escalation.step}",
        task_id=escalation.task_id, recipient_id=identity.user_id)


# --- hooks (registered in IntegrationsConfig.ready) -------------------------------------------------


def on_task_finished(*, task) -> None:
    """Emma's hook, after commit: a run asked for from chat is answered by a task on the integrations queue.
    Only a chat channel's tasks can have been asked for from chat."""
    from integrations.tasks import answer_chat_request

    if task.channel in Channel.values and ChatRequest.objects.filter(task_id=task.pk).exists():
        queueing.publish(answer_chat_request, str(task.pk))


def on_escalation_opened(escalation: Escalation) -> None:
    """Governance's hook, after commit: a chat requester's run paused on a tool call is told so."""
    from integrations.tasks import tell_chat_requester_waiting

    if escalation.step is not None and ChatRequest.objects.filter(task_id=escalation.task_id).exists():
        queueing.publish(tell_chat_requester_waiting, str(escalation.pk))
