"""Slack's three endpoints and what their deliveries mean.

- /webhooks/slack/events: the Events API. `url_verification` is answered at once (after the signature);
  a person's direct message to the app (`message.im`) or a mention (`app_mention`) is a request, or a
  decision code, and is stored. Anything else (bots' messages, Emma's own included; edits; other event
  types) is acknowledged and not stored. Dedup key: the event_id.
- /webhooks/slack/commands: `/emma <request>`. Dedup key: the trigger_id.
- /webhooks/slack/interactions: the Approve/Reject buttons of an approval request.
  Dedup key: the action, the escalation and the member who pressed it.
Answers go to the member's direct message with the app."""

import json
import re

from django.http import HttpResponse, JsonResponse, QueryDict

from integrations import services
from integrations.models import Channel, WebhookDelivery
from integrations.slack import messages, verify
from integrations.webhooks import Accepted, Unusable, WebhookView, header_subset

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
EVENT, COMMAND, INTERACTION = "event", "command", "interaction"


class SlackView(WebhookView):
    provider = WebhookDelivery.Provider.SLACK
    integration = "slack"

    def verify(self, request) -> None:
        verify.verify(request)


def _json(raw) -> dict:
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        raise Unusable("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise Unusable("The body is not a JSON object.")
    return data


class EventsView(SlackView):
    def accept(self, request):
        payload = _json(request.body)
        if payload.get("type") == "url_verification":
            return JsonResponse({"challenge": str(payload.get("challenge", ""))})
        event_id, event = payload.get("event_id"), payload.get("event")
        if payload.get("type") != "event_callback" or not event_id or not isinstance(event, dict):
            raise Unusable("Not a Slack event callback.")
        if _not_for_us(event):
            return JsonResponse({"status": "ignored"})
        return Accepted(dedup_key=f"{EVENT}:{event_id}", event_type=f"{EVENT}:{event.get('type', '')}",
                        headers=header_subset(request, ["X-Slack-Retry-Num", "X-Slack-Retry-Reason"]))


class CommandsView(SlackView):
    def accept(self, request):
        trigger_id = request.POST.get("trigger_id")
        if not trigger_id or not request.POST.get("user_id"):
            raise Unusable("Not a Slack slash command.")
        return Accepted(dedup_key=f"{COMMAND}:{trigger_id}", event_type=f"{COMMAND}:{request.POST.get('command', '')}")

    def acknowledge(self, request, delivery, created):
        # Slack shows this to the member alone, at once; the answer follows in their direct message.
        return JsonResponse({"response_type": "ephemeral", "text": "Got it. I'll answer in a direct message."})


class InteractionsView(SlackView):
    def accept(self, request):
        payload = _json(request.POST.get("payload"))
        actions = payload.get("actions") or []
        user_id = (payload.get("user") or {}).get("id")
        if payload.get("type") != "block_actions" or not actions or not user_id:
            raise Unusable("Not a Slack block action.")
        action = actions[0]
        escalation = str(action.get("block_id", "")).removeprefix(messages.BLOCK_PREFIX)
        return Accepted(dedup_key=f"{INTERACTION}:{action.get('action_id')}:{escalation}:{user_id}",
                        event_type=f"{INTERACTION}:{action.get('action_id', '')}")

    def acknowledge(self, request, delivery, created):
        return HttpResponse(status=200)


# --- processing (integrations.process_delivery) ---------------------------------------------------


def process(delivery: WebhookDelivery) -> str:
    kind = delivery.event_type.split(":", 1)[0]
    if kind == EVENT:
        return _event(json.loads(delivery.body), delivery)
    form = QueryDict(delivery.body)
    if kind == COMMAND:
        return services.chat_message_receive(delivery=delivery, channel=Channel.SLACK, address=form.get("user_id", ""),
                                             text=form.get("text", ""))
    if kind == INTERACTION:
        payload = json.loads(form.get("payload", "{}"))
        action = payload["actions"][0]
        if action.get("action_id") not in (messages.APPROVE, messages.REJECT):
            return "ignored: not an Emma button"
        return services.button_decision_receive(delivery=delivery, address=payload["user"]["id"],
                                                approve=action["action_id"] == messages.APPROVE,
                                                code=str(action.get("value", "")))
    return f"ignored: unknown slack delivery {delivery.event_type}"


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


def _event(payload: dict, delivery: WebhookDelivery) -> str:
    event = payload.get("event") or {}
    if why := _not_for_us(event):
        return f"ignored: {why}"
    text = _MENTION.sub("", event.get("text", "")).strip()
    return services.chat_message_receive(delivery=delivery, channel=Channel.SLACK, address=event["user"], text=text)
