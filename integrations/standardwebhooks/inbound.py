"""Standard Webhooks, Emma's "bring your own sender": any tool that signs as https://www.standardwebhooks.com says
(a deploy script, an in-house platform, Svix) posts to a tenant's endpoint /webhooks/standardwebhooks/<id>.
Dedup key: webhook-id; event type: the payload's `type`.

A payload whose `type` starts with deployment., incident., change. or build. is read as that engineering event,
its `data` holding Emma's own field names (integrations.signals); unknown fields are ignored, times are ISO 8601
or Unix seconds/milliseconds, and any other `type` is remembered but says nothing about delivering software:

    {"type": "deployment.succeeded", "timestamp": "2026-11-02T10:05:00Z",
     "data": {"id": "deploy-841", "service": "shop", "environment": "production", "status": "success",
              "sha": "<40 hex>", "shas": ["<sha>", ...], "started_at": "...", "finished_at": "...",
              "repository": "acme/shop", "title": "...", "url": "..."}}
    {"type": "incident.resolved",
     "data": {"id": "INC-12", "service": "shop", "opened_at": "...", "acknowledged_at": "...", "resolved_at": "...",
              "severity": "sev1", "status": "resolved", "title": "...", "url": "...", "root_cause_sha": "<sha>",
              "deployment_key": "deploy-841", "environment": "production"}}
    {"type": "change.merged",
     "data": {"sha": "<40 hex>", "repository": "acme/shop", "committed_at": "...", "authored_at": "...",
              "merged_at": "...", "pull_request": "42", "push": "...", "author": "dana", "title": "...", "url": "..."}}
    {"type": "build.finished",
     "data": {"id": "build-7", "pipeline": "ci", "status": "failed", "duration_seconds": 312, "started_at": "...",
              "finished_at": "...", "sha": "<sha>", "repository": "acme/shop", "title": "...", "url": "..."}}

`id` (or `key`) is the sender's stable id of the thing: a later event about the same deployment or incident updates
it. A deployment's or build's `status` may be any usual word (succeeded, failed, running, ...; integrations.signals
.outcome); without one, the type's last part says it (deployment.failed is a failure)."""

from integrations import providers
from integrations import signals as s
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.standardwebhooks import verify
from integrations.webhooks import header, json_body, payload_field


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _number(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """The one engineering event a deployment.*, incident.*, change.* or build.* payload names; nothing for other
    types, or when the thing's id (a change's sha) is missing."""
    kind, _, word = str(payload.get("type") or "").partition(".")
    data = payload.get("data")
    if not isinstance(data, dict):
        return []
    key = _text(data, "id") or _text(data, "key")
    text = {name: _text(data, name) for name in ("service", "environment", "sha", "repository", "title", "url")}
    if kind == s.CHANGE and text["sha"]:
        return [s.change(sha=text["sha"], repository=text["repository"], committed_at=data.get("committed_at"),
                         authored_at=data.get("authored_at"), merged_at=data.get("merged_at"),
                         pull_request=_text(data, "pull_request"), push=_text(data, "push"),
                         author=_text(data, "author"), title=text["title"], url=text["url"])]
    if not key:
        return []
    if kind == s.DEPLOYMENT:
        listed = data.get("shas") if isinstance(data.get("shas"), list) else []
        return [s.deployment(key=key, service=text["service"], environment=text["environment"] or s.PRODUCTION,
                             status=s.outcome(_text(data, "status") or word), sha=text["sha"],
                             shas=[sha for sha in listed if isinstance(sha, str)],
                             started_at=data.get("started_at"), finished_at=data.get("finished_at"),
                             repository=text["repository"], title=text["title"], url=text["url"])]
    if kind == s.INCIDENT:
        return [s.incident(key=key, service=text["service"], opened_at=data.get("opened_at"),
                           acknowledged_at=data.get("acknowledged_at"), resolved_at=data.get("resolved_at"),
                           severity=_text(data, "severity"), status=(_text(data, "status") or word).lower(),
                           title=text["title"], url=text["url"], root_cause_sha=_text(data, "root_cause_sha"),
                           deployment_key=_text(data, "deployment_key"),
                           environment=text["environment"] or s.PRODUCTION)]
    if kind == s.BUILD:
        return [s.build(key=key, pipeline=_text(data, "pipeline"), status=s.outcome(_text(data, "status") or word),
                        duration_seconds=_number(data.get("duration_seconds")), started_at=data.get("started_at"),
                        finished_at=data.get("finished_at"), sha=text["sha"], repository=text["repository"],
                        title=text["title"], url=text["url"])]
    return []


STANDARD_WEBHOOKS = providers.register(WebhookProvider(
    name="standardwebhooks",
    title="Standard Webhooks",
    switch="standardwebhooks",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=header(verify.ID),
                      event_type=lambda request, payload: payload_field("type")(request, payload)[:100],
                      keep_headers=(verify.ID, verify.TIMESTAMP)),
        describe=lambda options: "Standard Webhooks: webhook-signature (HMAC-SHA256 of id, timestamp and body), "
                                 "timestamp within 5 minutes",
        new_secret=verify.new_secret),
))
