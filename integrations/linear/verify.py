"""Linear webhooks: Linear-Signature = hex HMAC-SHA256(the webhook's signing secret, raw body).
https://linear.app/developers/webhooks#securing-webhooks
The time is inside what is signed: the payload's webhookTimestamp (Unix milliseconds) must be within a minute of
our clock, as Linear advises, so a captured delivery cannot be replayed later; inside that minute its
Linear-Delivery id stores it once."""

import json
import math
import time

from integrations.errors import bad, missing, stale
from integrations.webhooks import check_hmac

MAX_AGE_SECONDS = 60


def check(request, secret: str, options=None) -> None:
    check_hmac(secret=secret, body=request.body, signature=request.headers.get("Linear-Signature"))
    try:
        sent_at = json.loads(request.body).get("webhookTimestamp")
    except (ValueError, AttributeError, RecursionError):
        raise bad("timestamp") from None
    if sent_at in (None, ""):
        raise missing("timestamp")
    try:
        sent_at = float(sent_at) / 1000
    except (TypeError, ValueError):
        raise bad("timestamp") from None
    if not math.isfinite(sent_at) or abs(time.time() - sent_at) > MAX_AGE_SECONDS:
        raise stale()
