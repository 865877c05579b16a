"""Shortcut webhooks: Payload-Signature = hex HMAC-SHA256(the secret given when the webhook was made, raw body).
https://help.shortcut.com/hc/en-us/articles/34734717380756 ("secret ... used to create a hash signature with each
payload that is passed along in the Payload-Signature header ... an HMAC hexdigest")
Shortcut signs no delivery time (changed_at is when the story changed, and a retry comes later): a replay is
caught by the payload's `id`, the dedup key."""

from integrations.webhooks import check_hmac


def check(request, secret: str, options=None) -> None:
    check_hmac(secret=secret, body=request.body, signature=request.headers.get("Payload-Signature"))
