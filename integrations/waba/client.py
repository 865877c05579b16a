"""The WhatsApp Business Cloud API (Meta's Graph API) over httpx: text messages from WABA_PHONE_ID.
WABA_API_URL (default https://graph.facebook.com) and WABA_API_VERSION (v21.0) choose the endpoint.

Free-form text reaches a person only within 24 hours of their last message to the number
(Meta's customer-service window); outside it Meta refuses with error 131047, and the message fails
with that reason. The outbox key goes along as `biz_opaque_callback_data` and as an
`Idempotency-Key` header."""

import httpx
from django.conf import settings

from integrations.errors import NotConfigured, ProviderError, SendResult

# Graph error codes that mean "later": unknown/service errors, rate limits, temporarily unavailable.
RETRYABLE_CODES = {1, 2, 4, 17, 341, 80007, 130429, 131016, 133004}


def configured() -> bool:
    return bool(settings.WABA_PHONE_ID and settings.WABA_ACCESS_TOKEN)


def messages_url() -> str:
    base = settings.WABA_API_URL.rstrip("/")
    return f"{base}/{settings.WABA_API_VERSION}/{settings.WABA_PHONE_ID}/messages"


def send_text(*, to: str, text: str, idempotency_key: str) -> SendResult:
    if not configured():
        raise NotConfigured("WABA_PHONE_ID and WABA_ACCESS_TOKEN must be set")
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+"), "type": "text",
            "text": {"preview_url": False, "body": text}, "biz_opaque_callback_data": idempotency_key[:512]}
    headers = {"Authorization": f"Bearer {settings.WABA_ACCESS_TOKEN}", "Idempotency-Key": idempotency_key}
    try:
        response = httpx.post(messages_url(), json=body, headers=headers,
                              timeout=settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS)
    except httpx.TransportError as exc:
        raise ProviderError(f"WhatsApp unreachable: {type(exc).__name__}: {exc}"[:500], retryable=True) from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        retryable = (response.status_code >= 500 or response.status_code == 429 or bool(error.get("is_transient"))
                     or error.get("code") in RETRYABLE_CODES)
        detail = f"{error.get('code', '')} {error.get('message', '')}".strip() or response.text[:200]
        raise ProviderError(f"WhatsApp answered {response.status_code}: {detail}"[:500], retryable=retryable)
    try:
        return SendResult(provider_message_id=data["messages"][0]["id"])
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"WhatsApp answered in an unknown format: {response.text[:200]}", retryable=False) from exc
