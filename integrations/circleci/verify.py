"""CircleCI outbound webhooks: circleci-signature = `v1=<hex HMAC-SHA256(secret, raw body)>`, the header being a
comma-separated list of version=signature pairs (today only v1; a version Emma does not know is ignored, and
the request is genuine when a v1 pair matches). The secret is the webhook's "Secret token", which the tenant
pastes from Emma. https://circleci.com/docs/webhooks-reference/ and https://circleci.com/docs/outbound-webhooks/

No timestamp is checked. CircleCI sends no delivery timestamp header; the payload's `happened_at` (covered by the
signature) is when the workflow or job finished, and CircleCI retries a failed delivery "at a later time" by an
undocumented policy, keeping the same body: a window on happened_at would refuse its genuine retries after an
outage of ours. Replays are caught instead by the payload's `id`, which CircleCI documents as the key to
deduplicate on and which Emma keeps for good (retention empties bodies, never dedup keys)."""

import hashlib
import hmac

from integrations.errors import bad, missing

SIGNATURE_HEADER = "circleci-signature"


def signatures(value: str, version: str = "v1") -> list[str]:
    found = []
    for pair in value.split(","):
        name, _, digest = pair.strip().partition("=")
        if name == version and digest:
            found.append(digest.strip())
    return found


def check(request, secret: str, options=None) -> None:
    value = request.headers.get(SIGNATURE_HEADER)
    if not value:
        raise missing("signature")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest().encode()
    matches = [hmac.compare_digest(expected, digest.encode()) for digest in signatures(value)]
    if not any(matches):
        raise bad("signature")
