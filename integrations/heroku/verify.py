"""Heroku app webhooks: Heroku-Webhook-Hmac-SHA256 = base64 HMAC-SHA256(the subscription's secret, raw body).
https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests
(the secret is given with `heroku webhooks:add --secret`, or Heroku makes one and shows it once.)
Heroku signs no delivery time: a replay is caught by the delivery id, the dedup key."""

import base64
import hashlib
import hmac

from integrations.errors import bad, missing


def check(request, secret: str, options=None) -> None:
    signature = request.headers.get("Heroku-Webhook-Hmac-SHA256")
    if not signature:
        raise missing("signature")
    expected = base64.b64encode(hmac.new(secret.encode(), request.body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.strip().encode()):
        raise bad("signature")
