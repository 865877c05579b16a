"""WhatsApp Cloud API webhooks (Meta): X-Hub-Signature-256 = sha256=HMAC-SHA256(WABA_APP_SECRET, raw body);
the subscription handshake echoes hub.challenge when hub.verify_token equals WABA_VERIFY_TOKEN.
https://developers.facebook.com/docs/graph-api/webhooks/getting-started
Meta signs no timestamp: a replay is caught by the message id."""

import hmac

from integrations.errors import bad
from integrations.webhooks import check_hmac, required_secret


def verify(request) -> None:
    check_hmac(secret=required_secret("WABA_APP_SECRET"), body=request.body,
               signature=request.headers.get("X-Hub-Signature-256"), prefix="sha256=")


def verify_handshake(request) -> str:
    """The challenge to echo; raises Refused unless the token is ours."""
    token = required_secret("WABA_VERIFY_TOKEN")
    given = request.GET.get("hub.verify_token", "")
    if request.GET.get("hub.mode") != "subscribe" or not hmac.compare_digest(given.encode(), token.encode()):
        raise bad("verify_token", "The verify token is wrong.")
    return request.GET.get("hub.challenge", "")
