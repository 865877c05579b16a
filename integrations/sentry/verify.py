"""Sentry integration webhooks: Sentry-Hook-Signature = hex HMAC-SHA256(the integration's client secret,
SENTRY_WEBHOOK_SECRET, of the body as sent); Sentry-Hook-Timestamp (Unix seconds) within 5 minutes.
https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#verifying-the-signature
The signature does not cover the timestamp, so a replay inside the window is caught by Request-ID."""

import time

from integrations.errors import bad, missing, stale
from integrations.webhooks import check_hmac, required_secret

MAX_AGE_SECONDS = 300


def verify(request) -> None:
    secret = required_secret("SENTRY_WEBHOOK_SECRET")
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
