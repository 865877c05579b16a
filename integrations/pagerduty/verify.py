"""PagerDuty v3 webhooks: X-PagerDuty-Signature = `v1=<hex HMAC-SHA256(secret, raw body)>`, and during PagerDuty's
own secret rotation several of them, comma-separated (`v1=<a>,v1=<b>`): the request is genuine when any one matches.
https://developer.pagerduty.com/docs/webhooks/webhook-signatures/ (docs/webhooks/04-Signatures.md)
PagerDuty signs no timestamp (the payload's event.occurred_at is when the incident changed, not when it was sent,
and a retry keeps it): a replay is caught by the payload's event.id, the dedup key, kept past retention."""

from integrations.webhooks import check_versioned_hmac

SIGNATURE_HEADER = "X-PagerDuty-Signature"


def check(request, secret: str, options=None) -> None:
    check_versioned_hmac(secret=secret, body=request.body, header_value=request.headers.get(SIGNATURE_HEADER))
