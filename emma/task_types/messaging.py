"""Messaging task types.

- `message.send`: a text to anyone on Slack, SMS or WhatsApp. An external side effect to an arbitrary
  recipient, so governed like webhook.post: medium risk, escalates under `supervised`.
- `notify`: an event's summary to the channel a tenant admin chose in a routing rule. Low risk, and not
  counted as an external side effect: its destination was approved when the admin wrote the rule, and an
  alert that waits for a human would come too late. Only a rule of the task's tenant can be named.
- `assistant.request`: a person's request from chat, answered from the tenant's memory (the research
  task type's logic) and sent back to that person alone. It has research's risk: low while nothing leaves
  the system (a colleague's simple question is answered without an approval); medium with external side
  effects once an LLM is configured. Its reply may only go to the submitter's own linked address.

Sending belongs to the integrations app (the outbox, with its breaker, retries and caps). It registers
itself here at start-up (IntegrationsConfig.ready), so this layer never imports the one above it."""

import re

from emma.registry import task_type
from emma.task_types import research

CHANNELS = ["slack", "sms", "whatsapp"]
TEXT = {"type": "string", "minLength": 1, "maxLength": 4000}
ADDRESS = {"type": "string", "minLength": 1, "maxLength": 128}
_CITATION = re.compile(r"\s*\[[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\]")

_outbox = None


def register_outbox(outbox) -> None:
    """outbox.send(ctx, channel=, to=, text=), .notify(ctx, rule_id=, text=), .reply(ctx, channel=, to=, text=),
    each returning a JSON-able account of the message."""
    global _outbox
    _outbox = outbox


def outbox():
    if _outbox is None:
        raise RuntimeError("no outbox is registered: the integrations app must be installed to send messages")
    return _outbox


@task_type("message.send", risk="medium", external_side_effects=True, time_limit=60, max_attempts=3,
           description="Sends `text` to `to` on `channel` (slack: a channel or member id; sms, whatsapp: a phone "
                       "number). An external side effect; retried by the outbox, never sent twice.",
           schema={"type": "object", "additionalProperties": False, "required": ["channel", "to", "text"],
                   "properties": {"channel": {"enum": CHANNELS}, "to": ADDRESS, "text": TEXT}})
def message_send(ctx, parameters):
    return outbox().send(ctx, channel=parameters["channel"], to=parameters["to"], text=parameters["text"])


@task_type("notify", risk="low", time_limit=60, max_attempts=3,
           description="Posts `text` (an event's summary) to the channel and recipient of routing rule `rule_id`.",
           schema={"type": "object", "additionalProperties": False, "required": ["rule_id", "text"],
                   "properties": {"rule_id": {"type": "integer", "minimum": 1}, "text": TEXT}})
def notify(ctx, parameters):
    return outbox().notify(ctx, rule_id=parameters["rule_id"], text=parameters["text"])


@task_type("assistant.request", risk="low", risk_for=research.research_risk, time_limit=120, max_attempts=3,
           description="Answers a person's `question` from the tenant's memories and sends the answer back to them "
                       "on `channel` at `to` (their own linked address).",
           schema={"type": "object", "additionalProperties": False, "required": ["channel", "to", "question"],
                   "properties": {"channel": {"enum": CHANNELS}, "to": ADDRESS,
                                  "question": {"type": "string", "minLength": 1, "maxLength": 2000}}})
def assistant_request(ctx, parameters):
    answer = research.research(ctx, {"question": parameters["question"]})
    # Memory ids help in the task result, not in a text message.
    text = _CITATION.sub("", answer["answer"]).strip() or answer["answer"]
    reply = outbox().reply(ctx, channel=parameters["channel"], to=parameters["to"], text=text)
    return {"answer": answer["answer"], "citations": answer["citations"], "mode": answer["mode"], "reply": reply}
