"""/webhooks/twilio/sms: an SMS to TWILIO_FROM_NUMBER. Dedup key: the MessageSid.
Twilio is answered with empty TwiML at once; the reply is sent through the outbox (REST API), so it
shares the breaker, the retries and the daily cap with every other message."""

from django.http import HttpResponse, QueryDict

from integrations import providers
from integrations.models import Channel, WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.twilio import verify
from integrations.webhooks import Unusable

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Opt-out and opt-in keywords: Twilio answers and enforces them itself; they are not requests to Emma.
# https://help.twilio.com/articles/223134027
CARRIER_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "START",
                    "YES", "UNSTOP", "HELP", "INFO"}


def _message_sid(form) -> str:
    return form.get("MessageSid") or form.get("SmsSid") or ""


def sms_form(request) -> QueryDict:
    if not _message_sid(request.POST) or not request.POST.get("From"):
        raise Unusable("Not a Twilio message webhook.")
    return request.POST


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    form = QueryDict(delivery.body)
    if form.get("Body", "").strip().upper() in CARRIER_KEYWORDS:
        return [providers.ignored("a carrier keyword, handled by Twilio")]
    return [providers.chat_message(channel=Channel.SMS, sender=form.get("From", ""), text=form.get("Body", ""))]


TWILIO = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.TWILIO,
    switch="twilio",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(Endpoint(
        path="twilio/sms", url_name="webhook-twilio-sms",
        parse=sms_form,
        dedup_key=lambda request, form: _message_sid(form),
        event_type=lambda request, form: "sms",
        acknowledge=lambda created: HttpResponse(EMPTY_TWIML, content_type="text/xml"),
    ),),
))
