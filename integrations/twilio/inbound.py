"""/webhooks/twilio/sms: an SMS to TWILIO_FROM_NUMBER. Dedup key: the MessageSid.
Twilio is answered with empty TwiML at once; the reply is sent through the outbox (REST API), so it
shares the breaker, the retries and the daily cap with every other message."""

from django.http import HttpResponse, QueryDict

from integrations import services
from integrations.models import Channel, WebhookDelivery
from integrations.twilio import verify
from integrations.webhooks import Accepted, Unusable, WebhookView

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Opt-out and opt-in keywords: Twilio answers and enforces them itself; they are not requests to Emma.
# https://help.twilio.com/articles/223134027
CARRIER_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "START",
                    "YES", "UNSTOP", "HELP", "INFO"}


class SmsView(WebhookView):
    provider = WebhookDelivery.Provider.TWILIO
    integration = "twilio"

    def verify(self, request) -> None:
        verify.verify(request)

    def accept(self, request):
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
        if not sid or not request.POST.get("From"):
            raise Unusable("Not a Twilio message webhook.")
        return Accepted(dedup_key=sid, event_type="sms")

    def acknowledge(self, request, delivery, created):
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def process(delivery: WebhookDelivery) -> str:
    form = QueryDict(delivery.body)
    if form.get("Body", "").strip().upper() in CARRIER_KEYWORDS:
        return "ignored: a carrier keyword, handled by Twilio"
    return services.chat_message_receive(delivery=delivery, channel=Channel.SMS, address=form.get("From", ""),
                                         text=form.get("Body", ""))
