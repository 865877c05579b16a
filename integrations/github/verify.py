"""GitHub: X-Hub-Signature-256 = sha256=HMAC-SHA256(GITHUB_WEBHOOK_SECRET, raw body).
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
GitHub signs no timestamp: a replay is caught by its X-GitHub-Delivery id."""

from integrations.webhooks import check_hmac, required_secret


def check(request, secret: str, options=None) -> None:
    check_hmac(secret=secret, body=request.body, signature=request.headers.get("X-Hub-Signature-256"),
               prefix="sha256=")


def verify(request) -> None:
    check(request, required_secret("GITHUB_WEBHOOK_SECRET"))


def verify_app(request) -> None:
    """The GitHub App's webhooks: the same signature, with the App's own secret."""
    check_hmac(secret=required_secret("GITHUB_APP_WEBHOOK_SECRET"), body=request.body,
               signature=request.headers.get("X-Hub-Signature-256"), prefix="sha256=")
