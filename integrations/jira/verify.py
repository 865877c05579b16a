"""Jira Cloud: X-Hub-Signature = sha256=HMAC-SHA256(JIRA_WEBHOOK_SECRET, raw body), the secret set on the
webhook in Jira's admin. https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
Jira signs no timestamp: a replay is caught by X-Atlassian-Webhook-Identifier."""

from integrations.webhooks import check_hmac, required_secret


def verify(request) -> None:
    check_hmac(secret=required_secret("JIRA_WEBHOOK_SECRET"), body=request.body,
               signature=request.headers.get("X-Hub-Signature"), prefix="sha256=")
