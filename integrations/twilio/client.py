"""Twilio's REST API for SMS through the twilio library. TWILIO_API_URL (default
https://api.twilio.com) points it elsewhere. TWILIO_FROM_NUMBER is a number (+1555…) or a
Messaging Service SID (MG…).

Twilio's Messages API takes no idempotency key; the outbox row's key is sent as an
`Idempotency-Key` header anyway (a proxy in front of Twilio can honour it), and the send
service's claim keeps two workers from sending one message."""

import logging

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from integrations.errors import NotConfigured, ProviderError, SendResult

# twilio logs every request and response header at INFO; ours keeps to warnings.
_http_log = logging.getLogger("integrations.twilio.http")
_http_log.setLevel(logging.WARNING)


def configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER)


class _KeyedHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, with one more header on every request."""

    def __init__(self, *, idempotency_key: str, timeout: float):
        super().__init__(timeout=timeout, logger=_http_log)
        self.idempotency_key = idempotency_key

    def request(self, method, url, params=None, data=None, headers=None, **kwargs):
        headers = {**(headers or {}), "Idempotency-Key": self.idempotency_key}
        return super().request(method, url, params=params, data=data, headers=headers, **kwargs)


def send_sms(*, to: str, text: str, idempotency_key: str) -> SendResult:
    if not configured():
        raise NotConfigured("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER must be set")
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                    http_client=_KeyedHttpClient(idempotency_key=idempotency_key,
                                                 timeout=settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS))
    client.api.base_url = settings.TWILIO_API_URL.rstrip("/")
    sender = settings.TWILIO_FROM_NUMBER
    origin = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
    try:
        message = client.messages.create(to=to, body=text, **origin)
    except TwilioRestException as exc:
        retryable = exc.status >= 500 or exc.status == 429
        raise ProviderError(f"Twilio answered {exc.status}: {exc.code or ''} {exc.msg}".strip()[:500],
                            retryable=retryable) from exc
    except requests.RequestException as exc:  # refused, reset, timed out
        raise ProviderError(f"Twilio unreachable: {type(exc).__name__}: {exc}"[:500], retryable=True) from exc
    return SendResult(provider_message_id=message.sid or "")
