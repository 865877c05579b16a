"""Slack's three endpoints and what their deliveries mean.

- /webhooks/slack/events: the Events API. `url_verification` is answered at once (after the signature);
  a person's direct message to the app (`message.im`) or a mention (`app_mention`) is a request, or a
  decision code, and is stored. Anything else (bots' messages, Emma's own included; edits; other event
  types) is acknowledged and not stored. Dedup key: the event_id.
- /webhooks/slack/commands: `/emma <request>`. Dedup key: the trigger_id.
- /webhooks/slack/interactions: the Approve/Reject buttons of an approval request.
  Dedup key: the action, the escalation and the member who pressed it.
Answers go to the member's direct message with the app."""

import re

from django.http import HttpResponse, JsonResponse, QueryDict

from integrations import providers
from integrations.models import Channel, WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.slack import messages, verify
from integrations.webhooks import Unusable, json_body, json_object

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
# Each delivery's event type starts with its endpoint, which tells `normalise` how to read the body.
EVENT, COMMAND, INTERACTION = "event", "command", "interaction"


# --- /webhooks/slack/events -----------------------------------------------------------------------------


def _not_for_us(event: dict) -> str:
    """Why an event is not a person talking to Emma ("" when it is)."""
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return f"slack event {kind}"
    if event.get("bot_id") or event.get("subtype") or not event.get("user"):
        return "not a person's message"
    if kind == "message" and event.get("channel_type") != "im":
        return "a channel message without a mention"
    return ""


def events_answer(request, payload) -> HttpResponse | None:
    """Slack's URL check, and events that are not a person talking to Emma, are answered without storing."""
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge", ""))})
    event = payload.get("event")
    if payload.get("type") != "event_callback" or not payload.get("event_id") or not isinstance(event, dict):
        raise Unusable("Not a Slack event callback.")
    return JsonResponse({"status": "ignored"}) if _not_for_us(event) else None


EVENTS = Endpoint(
    path="slack/events", url_name="webhook-slack-events",
    parse=json_body,
    answer=events_answer,
    dedup_key=lambda request, payload: f"{EVENT}:{payload['event_id']}",
    event_type=lambda request, payload: f"{EVENT}:{payload['event'].get('type', '')}",
    keep_headers=("X-Slack-Retry-Num", "X-Slack-Retry-Reason"),
)


# --- /webhooks/slack/commands -----------------------------------------------------------------------------


def command_form(request) -> QueryDict:
    if not request.POST.get("trigger_id") or not request.POST.get("user_id"):
        raise Unusable("Not a Slack slash command.")
    return request.POST


COMMANDS = Endpoint(
    path="slack/commands", url_name="webhook-slack-commands",
    parse=command_form,
    dedup_key=lambda request, form: f"{COMMAND}:{form['trigger_id']}",
    event_type=lambda request, form: f"{COMMAND}:{form.get('command', '')}",
    # Slack shows this to the member alone, at once; the answer follows in their direct message.
    acknowledge=lambda created: JsonResponse({"response_type": "ephemeral",
                                              "text": "Got it. I'll answer in a direct message."}),
)


# --- /webhooks/slack/interactions -------------------------------------------------------------------------


def block_action(request) -> dict:
    payload = json_object(request.POST.get("payload"))
    user_id = (payload.get("user") or {}).get("id")
    if payload.get("type") != "block_actions" or not payload.get("actions") or not user_id:
        raise Unusable("Not a Slack block action.")
    return payload


def _press_key(request, payload) -> str:
    action = payload["actions"][0]
    escalation = str(action.get("block_id", "")).removeprefix(messages.BLOCK_PREFIX)
    return f"{INTERACTION}:{action.get('action_id')}:{escalation}:{payload['user']['id']}"


INTERACTIONS = Endpoint(
    path="slack/interactions", url_name="webhook-slack-interactions",
    parse=block_action,
    dedup_key=_press_key,
    event_type=lambda request, payload: f"{INTERACTION}:{payload['actions'][0].get('action_id', '')}",
    acknowledge=lambda created: HttpResponse(status=200),
)


# --- what a stored delivery says ------------------------------------------------------------------------


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    kind = delivery.event_type.split(":", 1)[0]
    if kind == EVENT:
        event = json_object(delivery.body).get("event") or {}
        if why := _not_for_us(event):
            return [providers.ignored(why)]
        return [providers.chat_message(channel=Channel.SLACK, sender=event["user"],
                                       text=_MENTION.sub("", event.get("text", "")).strip())]
    form = QueryDict(delivery.body)
    if kind == COMMAND:
        return [providers.chat_message(channel=Channel.SLACK, sender=form.get("user_id", ""),
                                       text=form.get("text", ""))]
    if kind == INTERACTION:
        payload = json_object(form.get("payload", "{}"))
        action = payload["actions"][0]
        if action.get("action_id") not in (messages.APPROVE, messages.REJECT):
            return [providers.ignored("not an Emma button")]
        return [providers.button_decision(sender=payload["user"]["id"], approve=action["action_id"] == messages.APPROVE,
                                          code=str(action.get("value", "")))]
    return [providers.ignored(f"unknown slack delivery {delivery.event_type}")]


SLACK = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.SLACK,
    switch="slack",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(EVENTS, COMMANDS, INTERACTIONS),
))
