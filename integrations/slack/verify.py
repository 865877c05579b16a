"""Slack's v0 signature: X-Slack-Signature = v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}"),
checked by slack_sdk's SignatureVerifier; X-Slack-Request-Timestamp within 5 minutes.
https://api.slack.com/authentication/verifying-requests-from-slack"""

import time

from slack_sdk.signature import SignatureVerifier

from integrations.errors import bad, missing, stale
from integrations.webhooks import required_secret

MAX_AGE_SECONDS = 300


def verify(request) -> None:
    secret = required_secret("SLACK_SIGNING_SECRET")
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    signature = request.headers.get("X-Slack-Signature")
    if not signature:
        raise missing("signature")
    if not timestamp:
        raise missing("timestamp")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise bad("timestamp") from None
    if abs(time.time() - sent_at) > MAX_AGE_SECONDS:
        raise stale()  # said apart from a bad signature for the metrics; the verifier refuses it too
    if not SignatureVerifier(secret).is_valid(body=request.body, timestamp=timestamp, signature=signature):
        raise bad("signature")
