"""/webhooks/waba/messages: GET is Meta's subscription handshake; POST brings messages. Dedup key: the
message ids. Delivery statuses (sent, delivered, read: three per message Emma sends) are verified and
acknowledged, but not stored: there is nothing to act on."""

from django.http import HttpResponse, JsonResponse

from integrations import providers
from integrations.models import Channel, WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.waba import verify
from integrations.webhooks import Unusable, json_body, json_object


def _messages(payload) -> list[dict]:
    return [message for entry in payload.get("entry") or [] for change in entry.get("changes") or []
            for message in (change.get("value") or {}).get("messages") or []]


def _message_ids(payload) -> list[str]:
    return sorted(str(message.get("id")) for message in _messages(payload) if message.get("id"))


def business_payload(request) -> dict:
    payload = json_body(request)
    if payload.get("object") != "whatsapp_business_account":
        raise Unusable("Not a WhatsApp Business webhook.")
    return payload


def handshake(request) -> HttpResponse:
    return HttpResponse(verify.verify_handshake(request), content_type="text/plain")


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    messages = _messages(json_object(delivery.body))
    if not messages:
        return [providers.ignored("delivery statuses")]
    return [providers.chat_message(channel=Channel.WHATSAPP, sender=message.get("from", ""),
                                   text=(message.get("text") or {}).get("body", ""), part=part)
            if message.get("type") == "text" else providers.ignored(f"{message.get('type')} message")
            for part, message in enumerate(messages)]


WABA = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.WABA,
    switch="waba",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(Endpoint(
        path="waba/messages", url_name="webhook-waba-messages",
        handshake=handshake,
        parse=business_payload,
        # Statuses only: nothing to store.
        answer=lambda request, payload: None if _message_ids(payload) else JsonResponse({"status": "ignored"}),
        dedup_key=lambda request, payload: "messages:" + ",".join(_message_ids(payload)),
        event_type=lambda request, payload: "messages",
    ),),
))
