"""/webhooks/waba/messages: GET is Meta's subscription handshake; POST brings messages. Dedup key: the
message ids. Delivery statuses (sent, delivered, read: three per message Emma sends) are verified and
acknowledged, but not stored: there is nothing to act on."""

import json

from django.http import HttpResponse, JsonResponse

from core.errors import json_error
from integrations import services
from integrations.errors import NotConfigured, Refused
from integrations.metrics import WEBHOOKS_REFUSED
from integrations.models import Channel, WebhookDelivery
from integrations.waba import verify
from integrations.webhooks import Accepted, Unusable, WebhookView


def _messages(payload: dict) -> list[dict]:
    return [message for entry in payload.get("entry") or [] for change in entry.get("changes") or []
            for message in (change.get("value") or {}).get("messages") or []]


class MessagesView(WebhookView):
    provider = WebhookDelivery.Provider.WABA
    integration = "waba"
    http_method_names = ["get", "post"]

    def get(self, request, *args, **kwargs):
        try:
            challenge = verify.verify_handshake(request)
        except NotConfigured:
            WEBHOOKS_REFUSED.labels(provider=self.provider, reason="not_configured").inc()
            return json_error(503, "not_configured", "The waba integration is not configured.")
        except Refused as exc:
            WEBHOOKS_REFUSED.labels(provider=self.provider, reason=exc.reason).inc()
            return json_error(403, "forbidden", "The verify token is wrong.", {"reason": exc.reason})
        return HttpResponse(challenge, content_type="text/plain")

    def verify(self, request) -> None:
        verify.verify(request)

    def accept(self, request):
        try:
            payload = json.loads(request.body)
        except ValueError:
            raise Unusable("The body is not JSON.") from None
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise Unusable("Not a WhatsApp Business webhook.")
        ids = sorted(str(message.get("id")) for message in _messages(payload) if message.get("id"))
        if not ids:
            return JsonResponse({"status": "ignored"})
        return Accepted(dedup_key="messages:" + ",".join(ids), event_type="messages")


def process(delivery: WebhookDelivery) -> str:
    messages = _messages(json.loads(delivery.body))
    if not messages:
        return "ignored: delivery statuses"
    outcomes = []
    for part, message in enumerate(messages):
        if message.get("type") != "text":
            outcomes.append(f"ignored: {message.get('type')} message")
            continue
        outcomes.append(services.chat_message_receive(delivery=delivery, channel=Channel.WHATSAPP,
                                                      address=message.get("from", ""),
                                                      text=(message.get("text") or {}).get("body", ""), part=part))
    return "processed" if "processed" in outcomes else outcomes[0]
