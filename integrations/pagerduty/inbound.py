"""PagerDuty v3 webhooks (a webhook subscription, Integrations → Generic Webhooks (v3)), on a tenant's registered
endpoint. Dedup key: the payload's event.id; event type: event.event_type (incident.triggered,
incident.acknowledged, incident.resolved, incident.reopened, incident.priority_updated, ..., pagey.ping).
https://developer.pagerduty.com/docs/webhooks/v3-overview/

Every event whose data is the incident itself (data.type "incident") updates one incident row, keyed by the
incident's id: service from data.service.summary, opened at data.created_at, acknowledged at the event's
occurred_at on incident.acknowledged, resolved at occurred_at on incident.resolved, severity from the incident's
priority (P1...) or else its urgency (high, low); its status the incident's, except on incident.reopened:
triggered (open again; the store then drops the earlier resolution). Annotations, responder requests and status
updates carry other data and say nothing new about the incident's times.

The secret: PagerDuty makes the subscription's signing secret itself and shows it once, when the subscription is
created; it cannot be given one. The endpoint's secret (new_secret) is a random token until the registry can
take the one PagerDuty issued."""

from integrations import providers
from integrations import signals as s
from integrations.pagerduty import verify
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.webhooks import Unusable, json_body, new_token, payload_field

REOPENED_STATUS = "triggered"  # PagerDuty's status of an open, unacknowledged incident


def event_of(payload) -> dict:
    event = payload.get("event") if isinstance(payload, dict) else None
    return event if isinstance(event, dict) else {}


def event_id(request, payload) -> str:
    value = event_of(payload).get("id")
    if not value:
        raise Unusable("event.id is required.")
    return str(value)[:255]


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def signals(delivery, payload) -> list[s.Signal]:
    """What PagerDuty says about an incident: opened, acknowledged, resolved (and reopened: triggered again, open),
    and how severe."""
    event = event_of(payload)
    data = event.get("data")
    if not isinstance(data, dict) or data.get("type") != "incident" or not text(data.get("id")):
        return []
    event_type, occurred_at = text(event.get("event_type")), event.get("occurred_at")
    priority = data.get("priority") if isinstance(data.get("priority"), dict) else {}
    service = data.get("service") if isinstance(data.get("service"), dict) else {}
    # A reopened incident is open again whatever status the event's copy of it shows: triggered.
    status = REOPENED_STATUS if event_type == "incident.reopened" else text(data.get("status"))
    return [s.incident(key=text(data["id"]), service=text(service.get("summary")),
                       opened_at=data.get("created_at"),
                       acknowledged_at=occurred_at if event_type == "incident.acknowledged" else None,
                       resolved_at=occurred_at if event_type == "incident.resolved" else None,
                       severity=text(priority.get("summary")) or text(data.get("urgency")),
                       status=status, title=text(data.get("title")), url=text(data.get("html_url")),
                       observed_at=occurred_at)]


PAGERDUTY = providers.register(WebhookProvider(
    name="pagerduty",
    title="PagerDuty",
    switch="pagerduty",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=event_id,
                      event_type=payload_field("event", "event_type"),
                      keep_headers=("X-Webhook-Id", "X-Webhook-Subscription")),
        describe=lambda options: "HMAC-SHA256 of the body in X-PagerDuty-Signature (v1=…; any of several while "
                                 "PagerDuty rotates its secret)",
        new_secret=new_token,
    ),
))
