"""Kubernetes events, as kubernetes-event-exporter's webhook receiver or an Argo Events HTTP trigger posts them.
Neither signs a body: both can only add a header, so the endpoint's secret travels as `Authorization: Bearer
<secret>` (the exporter's `receivers[].webhook.headers`, Argo Events' `http.secureHeaders` from a Secret), or at
the end of the endpoint's URL. Compared in constant time; anyone who learns the secret can post, so keep it in a
Kubernetes Secret and rotate it (the registry's overlap keeps the old one working while the tools are updated).
https://github.com/resmoio/kubernetes-event-exporter#webhooks--http
https://argoproj.github.io/argo-events/sensors/triggers/http-trigger/
No timestamp is signed, so none is checked: a replay is caught by the event's uid and count (the dedup key)."""

from integrations.webhooks import check_token, url_secret


def bearer_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check(request, secret: str, options=None) -> None:
    check_token(secret=secret, value=bearer_token(request) or url_secret(request), what="secret")
