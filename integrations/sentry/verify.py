"""Sentry integration webhooks: Sentry-Hook-Signature = hex HMAC-SHA256(the integration's client secret, of the
body as sent); Sentry-Hook-Timestamp (Unix seconds) within 5 minutes. The secret is SENTRY_WEBHOOK_SECRET for the
global endpoint, the endpoint's own secret (the internal integration's client secret) for a registered one.
https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#verifying-the-signature
The signature covers neither the timestamp nor Request-ID, so a replay may carry new ones of both: a replay inside
the window is caught by the dedup key, the body's SHA-256 (integrations.sentry.inbound)."""

import time

from integrations.errors import bad, missing, stale
from integrations.webhooks import check_hmac, required_secret

MAX_AGE_SECONDS = 300


def check(request, secret: str, options=None) -> None:
    """The one check, with one secret: signature and timestamp present, signature right, timestamp fresh."""
    signature = request.headers.get("Sentry-Hook-Signature")
    if not signature:
        raise missing("signature")
    timestamp = request.headers.get("Sentry-Hook-Timestamp")
    if not timestamp:
        raise missing("timestamp")
    try:
        sent_at = float(timestamp)
    except ValueError:
        raise bad("timestamp") from None
    check_hmac(secret=secret, body=request.body, signature=signature)
    if abs(time.time() - sent_at) > MAX_AGE_SECONDS:
        raise stale()


def verify(request) -> None:
    check(request, required_secret("SENTRY_WEBHOOK_SECRET"))
