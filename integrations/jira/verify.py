"""Jira Cloud: X-Hub-Signature = sha256=HMAC-SHA256(secret, raw body), the secret set on the webhook in Jira's
admin (JIRA_WEBHOOK_SECRET for the global endpoint, the endpoint's own secret for a registered one).
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
Jira signs no timestamp: a replay is caught by X-Atlassian-Webhook-Identifier."""

from integrations.webhooks import check_hmac, required_secret


def check(request, secret: str, options=None) -> None:
    check_hmac(secret=secret, body=request.body, signature=request.headers.get("X-Hub-Signature"),
               prefix="sha256=")


def verify(request) -> None:
    check(request, required_secret("JIRA_WEBHOOK_SECRET"))
