"""Jenkins cannot sign its notifications (the Notification plugin, https://plugins.jenkins.io/notification/, posts
the job's JSON to a URL, nothing more). So the endpoint's secret travels as is: `Authorization: Bearer <secret>`
or `X-Jenkins-Token: <secret>` (a pipeline's httpRequest step can send either), or at the end of the endpoint's
URL, which is the only place the plugin itself can carry it (store that URL as a secret-text credential, the
plugin's "URL from credentials"). The first of those present is compared, in constant time; TLS is what keeps
it secret. Nothing is timestamped for delivery (build.timestamp is when the phase happened): a replay is caught
by the dedup key, job name + build number + phase."""

from integrations.webhooks import check_token, url_secret

TOKEN_HEADER = "X-Jenkins-Token"


def bearer(request) -> str:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check(request, secret: str, options=None) -> None:
    presented = bearer(request) or request.headers.get(TOKEN_HEADER) or url_secret(request)
    check_token(secret=secret, value=presented, what="secret")


def describe(options) -> str:
    return f"the secret as Authorization: Bearer <secret> or in header {TOKEN_HEADER}, or at the end of the URL"
