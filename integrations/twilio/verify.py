"""Twilio's X-Twilio-Signature, checked by twilio's RequestValidator over the URL Twilio called and the
POST parameters. https://www.twilio.com/docs/usage/security#validating-requests

The URL must be the public one: PUBLIC_BASE_URL when set, else this request's, as the proxy in front
saw it (X-Forwarded-Proto/Host). Trusting those headers here is safe: they only choose what the HMAC
covers, and nobody without the auth token can sign any URL. Twilio signs no timestamp, so a replay is
caught by its MessageSid instead."""

from django.conf import settings
from twilio.request_validator import RequestValidator

from integrations.errors import bad, missing
from integrations.webhooks import required_secret


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(request) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if base:
        return base + request.get_full_path()
    proto = _first(request.headers.get("X-Forwarded-Proto")) or request.scheme
    host = _first(request.headers.get("X-Forwarded-Host")) or request.get_host()
    return f"{proto}://{host}{request.get_full_path()}"


def verify(request) -> None:
    token = required_secret("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise missing("signature")
    if not RequestValidator(token).validate(public_url(request), request.POST, signature):
        raise bad("signature")
