"""Standard Webhooks (https://www.standardwebhooks.com, spec: https://github.com/standard-webhooks/standard-webhooks/
blob/main/spec/standard-webhooks.md): webhook-signature = v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.
<raw body>")>, one or more space-separated, where the key is the secret whsec_<base64> decoded. What is signed covers
the id and the time as well as the body; webhook-timestamp (Unix seconds) must be within 5 minutes of our clock
(the `standardwebhooks` package's tolerance, which does the check). A replay inside the window carries the same
webhook-id, the dedup key, so it is stored once."""

import base64
import secrets

from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError

from integrations.errors import bad, missing, stale

ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"


def new_secret() -> str:
    """whsec_ and the base64 of 32 random bytes: the form senders (and GitLab's signing token) take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed(request) -> bool:
    """Whether the request carries a Standard Webhooks signature at all."""
    return bool(request.headers.get(SIGNATURE))


def check(request, secret: str, options=None) -> None:
    """The request verified with `secret` by the `standardwebhooks` package; a missing header is 401, a stale
    timestamp or a signature that does not match 403."""
    headers = {name: request.headers.get(name) or "" for name in (ID, TIMESTAMP, SIGNATURE)}
    if not headers[SIGNATURE] or not headers[ID]:
        raise missing("signature")
    if not headers[TIMESTAMP]:
        raise missing("timestamp")
    try:
        Webhook(secret).verify(request.body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        # The package says which check failed only in its message; the timestamp is checked before the signature.
        if "too old" in str(exc) or "too new" in str(exc):
            raise stale() from None
        raise bad("signature") from None
    except (EmptyWebhookSecretError, ValueError):  # a malformed signature, timestamp or body (binascii, UTF-8)
        raise bad("signature") from None
