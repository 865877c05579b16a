"""Argo CD notifications' webhook service cannot sign
(https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/: a URL, headers, basic
auth). So the endpoint's secret travels as is: in a header of the webhook service (Option "header", default
X-Emma-Webhook-Secret; its value kept in argocd-notifications-secret and referenced as $emma-webhook-secret), or
at the end of the endpoint's URL. Compared in constant time; TLS is what keeps it secret. Nothing is timestamped
for delivery: a replay is caught by the dedup key (app, revision, operation finishedAt and phase)."""

from integrations.webhooks import secret_header_or_url

DEFAULT_HEADER = "X-Emma-Webhook-Secret"

check = secret_header_or_url("header", DEFAULT_HEADER)


def describe(options) -> str:
    return f"the secret in header {(options or {}).get('header') or DEFAULT_HEADER}, or at the end of the URL"
