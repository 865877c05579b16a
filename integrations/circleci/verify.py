"""CircleCI outbound webhooks: circleci-signature = `v1=<hex HMAC-SHA256(secret, raw body)>`, the header being a
comma-separated list of version=signature pairs (today only v1; a version Emma does not know is ignored, and
the request is genuine when a v1 pair matches). The secret is the webhook's "Secret token", which the tenant
pastes from Emma. https://circleci.com/docs/webhooks-reference/ and https://circleci.com/docs/outbound-webhooks/

No timestamp is checked. CircleCI sends no delivery timestamp header; the payload's `happened_at` (covered by the
signature) is when the workflow or job finished, and CircleCI retries a failed delivery "at a later time" by an
undocumented policy, keeping the same body: a window on happened_at would refuse its genuine retries after an
outage of ours. Replays are caught instead by the payload's `id`, which CircleCI documents as the key to
deduplicate on and which Emma keeps for good (retention empties bodies, never dedup keys)."""

from integrations.webhooks import check_versioned_hmac

SIGNATURE_HEADER = "circleci-signature"


def check(request, secret: str, options=None) -> None:
    check_versioned_hmac(secret=secret, body=request.body, header_value=request.headers.get(SIGNATURE_HEADER))
