"""The messaging task types, and the rules of who they may reach. Registered with emma's task-type
registry when this module is imported (IntegrationsConfig.ready).

- `message.send`: a text to anyone on Slack, SMS or WhatsApp. An external side effect to an arbitrary
  recipient, so governed like webhook.post: medium risk, escalates under `supervised`.
- `notify`: an event's summary to the channel a tenant admin chose in a routing rule. Low risk, and not
  counted as an external side effect: its destination was approved when the admin wrote the rule, and an
  alert that waits for a human would come too late. Only a rule of the task's tenant can be named.
- `assistant.request`: a person's request from chat, answered from the tenant's memory (the research
  task type's logic) and sent back to that person alone. It has research's risk: low while nothing leaves
  the system (a colleague's simple question is answered without an approval); medium with external side
  effects once an LLM is configured. Its reply may only go to the submitter's own linked address.

Each queues one message per task in the outbox (idempotency key: the task) and makes its first attempt
right away, in the task's worker; further attempts belong to the outbox. A message the provider refuses
for good fails the task."""

import re

from emma.models import AgentTask
from emma.registry import task_type
from emma.task_types import research
from governance.summaries import quoted
from integrations import outbound
from integrations.models import Channel, OutboundMessage, RoutingRule, normalized_address
from integrations.selectors import identity_for

CHANNELS = list(Channel.values)
TEXT = {"type": "string", "minLength": 1, "maxLength": 4000}
ADDRESS = {"type": "string", "minLength": 1, "maxLength": 128}
_CITATION = re.compile(r"\s*\[[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\]")


def _receipt(message: dict) -> dict:
    return {key: message[key] for key in ("message_id", "channel", "status", "provider_message_id")}


def _first_attempt(message: OutboundMessage) -> dict:
    if message.status == OutboundMessage.Status.QUEUED:
        outbound.message_send(message_id=message.pk)
        message.refresh_from_db()
    if message.status == OutboundMessage.Status.FAILED:
        raise RuntimeError(f"the {message.channel} message could not be sent: {message.error}")
    return {"message_id": message.pk, "channel": message.channel, "to": message.to, "status": message.status,
            "provider_message_id": message.provider_message_id}


def _message_headline(arguments: dict) -> str:
    where = {"slack": "Slack message", "sms": "text message", "whatsapp": "WhatsApp message"}
    return f"send this {where.get(arguments['channel'], 'message')} to {arguments['to']}"


@task_type("message.send", risk="medium", external_side_effects=True, time_limit=60, max_attempts=3,
           receipt=_receipt, tool=True, headline=_message_headline,
           summary_template="integrations/summaries/message.html",
           description="Sends `text` to `to` on `channel` (slack: a channel or member id; sms, whatsapp: a phone "
                       "number). An external side effect; retried by the outbox, never sent twice.",
           schema={"type": "object", "additionalProperties": False, "required": ["channel", "to", "text"],
                   "properties": {"channel": {"enum": CHANNELS}, "to": ADDRESS, "text": TEXT}})
def message_send(ctx, parameters):
    channel = parameters["channel"]
    address = normalized_address(channel, parameters["to"])
    if not address:
        raise ValueError(f"{parameters['to']!r} is not a {channel} address")
    return _first_attempt(outbound.message_queue(
        tenant_id=ctx.tenant_id, channel=channel, to=address, text=parameters["text"], purpose="message",
        idempotency_key=f"task:{ctx.idempotency_key}", task_id=ctx.task_id, publish=False))


@task_type("notify", risk="low", time_limit=60, max_attempts=3, receipt=_receipt, tool=True,
           headline=lambda a: f"post this to the destination of routing rule {a['rule_id']}",
           summary_template="integrations/summaries/message.html",
           description="Posts `text` (an event's summary) to the channel and recipient of routing rule `rule_id`.",
           schema={"type": "object", "additionalProperties": False, "required": ["rule_id", "text"],
                   "properties": {"rule_id": {"type": "integer", "minimum": 1}, "text": TEXT}})
def notify(ctx, parameters):
    rule = RoutingRule.objects.filter(pk=parameters["rule_id"], tenant_id=ctx.tenant_id, enabled=True,
                                      action=RoutingRule.Action.NOTIFY).first()
    if rule is None:
        raise ValueError(f"routing rule {parameters['rule_id']} does not exist in this tenant, is disabled, or "
                         "is not a notify rule")
    return _first_attempt(outbound.message_queue(
        tenant_id=ctx.tenant_id, channel=rule.channel, to=rule.to, text=parameters["text"], purpose="notify",
        idempotency_key=f"task:{ctx.idempotency_key}", task_id=ctx.task_id, publish=False))


def _reply_to_submitter(ctx, *, channel: str, to: str, text: str) -> dict:
    """The answer goes to the submitter's own linked address and nowhere else."""
    submitter_id = AgentTask.objects.filter(pk=ctx.task_id).values_list("submitter_id", flat=True).first()
    identity = identity_for(channel=channel, address=to)
    if identity is None or identity.user_id != submitter_id:
        raise ValueError("assistant.request answers only its requester: `to` must be the submitter's own linked "
                         f"{channel} address (message.send reaches anyone else, with an approval)")
    return _first_attempt(outbound.message_queue(
        tenant_id=ctx.tenant_id, channel=channel, to=identity.address, text=text, purpose="answer",
        idempotency_key=f"task:{ctx.idempotency_key}:answer", task_id=ctx.task_id, recipient_id=identity.user_id,
        publish=False))


@task_type("assistant.request", risk="low", risk_for=research.research_risk, time_limit=120, max_attempts=3,
           receipt=lambda result: _receipt(result["reply"]),
           headline=lambda a: f"answer {quoted(a['question'])} and send the answer to {a['to']} on {a['channel']}",
           description="Answers a person's `question` from the tenant's memories and sends the answer back to them "
                       "on `channel` at `to` (their own linked address).",
           schema={"type": "object", "additionalProperties": False, "required": ["channel", "to", "question"],
                   "properties": {"channel": {"enum": CHANNELS}, "to": ADDRESS,
                                  "question": {"type": "string", "minLength": 1, "maxLength": 2000}}})
def assistant_request(ctx, parameters):
    answer = research.research(ctx, {"question": parameters["question"]})
    # Memory ids help in the task result, not in a text message.
    text = _CITATION.sub("", answer["answer"]).strip() or answer["answer"]
    reply = _reply_to_submitter(ctx, channel=parameters["channel"], to=parameters["to"], text=text)
    return {"answer": answer["answer"], "citations": answer["citations"], "mode": answer["mode"], "reply": reply}
