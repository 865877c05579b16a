"""Linear webhooks, at a tenant's endpoint /webhooks/linear/<id>. https://linear.app/developers/webhooks
Dedup key: Linear-Delivery (else the body's hash); event type: Linear-Event (Issue, Comment, Project, ...), else the
payload's `type`. An Issue created, updated or removed is an issue (its id, identifier and title, workflow state,
team, assignee); other types say nothing about delivering software."""

from integrations import providers
from integrations import signals as s
from integrations.linear import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.webhooks import body_hash, first_of, header, json_body


def _name(value, field: str = "name") -> str:
    return str(value.get(field) or "") if isinstance(value, dict) else ""


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """An Issue event: the issue as it is now (removed: status `removed`)."""
    data = payload.get("data")
    if payload.get("type") != "Issue" or not isinstance(data, dict) or not data.get("id"):
        return []
    identifier = str(data.get("identifier") or "")
    title = f"{identifier} {data.get('title') or ''}".strip()
    status = "removed" if payload.get("action") == "remove" else _name(data.get("state"))
    return [s.issue(key=data["id"], title=title, status=status, at=data.get("updatedAt") or data.get("createdAt"),
                    project=_name(data.get("team"), "key") or _name(data.get("team")), kind="issue",
                    assignee=_name(data.get("assignee")), url=str(data.get("url") or payload.get("url") or ""))]


def event_type(request, payload) -> str:
    return str(request.headers.get("Linear-Event") or payload.get("type") or "")[:100]


LINEAR = providers.register(WebhookProvider(
    name="linear",
    title="Linear",
    switch="linear",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(header("Linear-Delivery"), body_hash),
                      event_type=event_type, keep_headers=("Linear-Delivery", "Linear-Event")),
        describe=lambda options: "HMAC-SHA256 of the body in Linear-Signature, webhookTimestamp within 60 seconds"),
))
