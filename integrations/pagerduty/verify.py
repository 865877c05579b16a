"""PagerDuty v3 webhooks: X-PagerDuty-Signature = `v1=<hex HMAC-SHA256(secret, raw body)>`, and during PagerDuty's
own secret rotation several of them, comma-separated (`v1=<a>,v1=<b>`): the request is genuine when any one matches.
https://developer.pagerduty.com/docs/webhooks/webhook-signatures/ (docs/webhooks/04-Signatures.md)
PagerDuty signs no timestamp (the payload's event.occurred_at is when the incident changed, not when it was sent,
and a retry keeps it): a replay is caught by the payload's event.id, the dedup key, kept past retention."""

import hashlib
import hmac

from integrations.errors import bad, missing

SIGNATURE_HEADER = "X-PagerDuty-Signature"


def signatures(value: str, version: str = "v1") -> list[str]:
    """The hex digests of one version in a `v1=<hex>,v1=<hex>` header; other versions are ignored."""
    found = []
    for part in value.split(","):
        name, _, digest = part.strip().partition("=")
        if name == version and digest:
            found.append(digest.strip())
    return found


def check(request, secret: str, options=None) -> None:
    value = request.headers.get(SIGNATURE_HEADER)
    if not value:
        raise missing("signature")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest().encode()
    # Every candidate is compared, so the time taken does not say which one matched.
    matches = [hmac.compare_digest(expected, digest.encode()) for digest in signatures(value)]
    if not any(matches):
        raise bad("signature")
