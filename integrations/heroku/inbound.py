"""Heroku app webhooks, at a tenant's endpoint /webhooks/heroku/<id>. https://devcenter.heroku.com/articles/
app-webhooks, payloads: https://devcenter.heroku.com/articles/webhook-events
Dedup key: the payload's webhook_metadata.delivery.id (one per delivery, the same on each retry attempt), else the
Heroku-Webhook-Id header, else the body's hash. Event type: the payload's resource.action (release.update,
build.create, ...).

    api:release  a deployment of the app (data.id): service the app's name, environment production, status from
                 data.status (succeeded, failed, pending), started at created_at and finished at updated_at once
                 done; the sha when the release names its slug's commit
    api:build    a build (data.id): status, times, the source's version (the commit, for git pushes)"""

from integrations import providers
from integrations import signals as s
from integrations.heroku import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.webhooks import body_hash, first_of, header, json_body, payload_field


def _of(data: dict, name: str) -> dict:
    return data.get(name) if isinstance(data.get(name), dict) else {}


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """A release (a deployment) or a build of the app."""
    resource, data = payload.get("resource"), payload.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        return []
    app = str(_of(data, "app").get("name") or "")
    status = s.outcome(data.get("status"))
    finished_at = data.get("updated_at") if status != s.IN_PROGRESS else None
    if resource == "release":
        title = f"{app} v{data.get('version', '')}: {data.get('description') or ''}".strip(": ")
        return [s.deployment(key=data["id"], service=app, environment=s.PRODUCTION, status=status,
                             sha=str(_of(data, "slug").get("commit") or ""), started_at=data.get("created_at"),
                             finished_at=finished_at, title=title)]
    if resource == "build":
        source = _of(data, "source_blob")
        return [s.build(key=data["id"], pipeline=app, status=status, started_at=data.get("created_at"),
                        finished_at=finished_at, sha=str(source.get("version") or ""),
                        title=f"{app} build {source.get('version_description') or ''}".strip())]
    return []


def event_type(request, payload) -> str:
    return ".".join(str(payload.get(name) or "") for name in ("resource", "action")).strip(".")[:100]


HEROKU = providers.register(WebhookProvider(
    name="heroku",
    title="Heroku",
    switch="heroku",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body,
                      dedup_key=first_of(payload_field("webhook_metadata", "delivery", "id"),
                                         header("Heroku-Webhook-Id"), body_hash),
                      event_type=event_type, keep_headers=("Heroku-Webhook-Id",)),
        describe=lambda options: "base64 HMAC-SHA256 of the body in Heroku-Webhook-Hmac-SHA256"),
))
