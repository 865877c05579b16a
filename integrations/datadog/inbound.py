"""Datadog webhooks (Integrations → Webhooks), on a tenant's registered endpoint. A monitor notifies it with
`@webhook-<name>` in its message; an incident notification rule can notify it too.

Datadog sends the JSON template the tenant pastes into the webhook's Payload box, with Datadog's $VARIABLES
filled in (https://docs.datadoghq.com/integrations/webhooks/#variables). Emma reads this one:

    {
      "id": "$ID",
      "event_type": "$EVENT_TYPE",
      "title": "$EVENT_TITLE",
      "date": "$DATE",
      "last_updated": "$LAST_UPDATED",
      "link": "$LINK",
      "tags": "$TAGS",
      "service": "$TAGS[service]",
      "env": "$TAGS[env]",
      "alert": {
        "id": "$ALERT_ID",
        "cycle_key": "$ALERT_CYCLE_KEY",
        "aggregate_key": "$AGGREG_KEY",
        "transition": "$ALERT_TRANSITION",
        "type": "$ALERT_TYPE",
        "title": "$ALERT_TITLE",
        "priority": "$ALERT_PRIORITY",
        "scope": "$ALERT_SCOPE"
      },
      "incident": {
        "public_id": "$INCIDENT_PUBLIC_ID",
        "uuid": "$INCIDENT_UUID",
        "title": "$INCIDENT_TITLE",
        "status": "$INCIDENT_STATUS",
        "severity": "$INCIDENT_SEVERITY",
        "url": "$INCIDENT_URL"
      }
    }

Dedup key: `id` ($ID, the notification's event), else the body's hash. Event type: "incident" for an incident's
notification, else `event_type` (query_alert_monitor, log_alert, service_check, ...), else "alert".

What it says:
- a monitor's notification is an alert, keyed by the alert's cycle ($ALERT_CYCLE_KEY: from its trigger to its
  recovery), else its aggregate key, else the monitor's id; its status from $ALERT_TRANSITION (Triggered and
  Re-Triggered: triggered; Recovered: resolved; Warn: warning; No Data: no_data), severity its priority;
- an incident's notification ($INCIDENT_PUBLIC_ID filled, or event_type "incident") is an incident: opened at
  `date` while its status is active, resolved at `last_updated` once it is resolved; and a monitor tagged
  `incident` (or `incident:true`) is an incident too, opened when it first triggers (not when it re-triggers)
  and resolved when it recovers.
Service and environment come from the event's `service:` and `env:` tags."""

from integrations import providers
from integrations import signals as s
from integrations.datadog import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import body_hash, first_of, json_body

TRANSITIONS = {"triggered": "triggered", "re-triggered": "triggered", "renotify": "triggered",
               "recovered": "resolved", "warn": "warning", "re-warn": "warning", "no data": "no_data",
               "re-no data": "no_data"}


def text(value) -> str:
    """A template field as text; a variable Datadog left unfilled ("$INCIDENT_PUBLIC_ID") is empty."""
    value = "" if value is None else str(value).strip()
    return "" if value.startswith("$") else value


def part(payload, name: str) -> dict:
    value = payload.get(name) if isinstance(payload, dict) else None
    return value if isinstance(value, dict) else {}


def notification_id(request, payload) -> str:
    return text(payload.get("id"))[:255]


def is_incident(payload) -> bool:
    return bool(text(part(payload, "incident").get("public_id"))) or text(payload.get("event_type")) == "incident"


def event_type(request, payload) -> str:
    if is_incident(payload):
        return "incident"
    return text(payload.get("event_type"))[:100] or "alert"


def tags(payload) -> dict[str, str]:
    """$TAGS ("monitor, service:shop, env:prod") as name → value (a bare tag's value is "true")."""
    found = {}
    for tag in text(payload.get("tags")).split(","):
        name, _, value = tag.strip().partition(":")
        if name:
            found.setdefault(name.lower(), value.strip() or "true")
    return found


def signals(delivery, payload) -> list[s.Signal]:
    """Monitor alerts, and incidents (Datadog's own, or monitors tagged `incident`)."""
    tagged = tags(payload)
    service = text(payload.get("service")) or tagged.get("service", "")
    environment = text(payload.get("env")) or tagged.get("env") or s.PRODUCTION
    incident = part(payload, "incident")
    if is_incident(payload):
        key = text(incident.get("public_id")) or text(incident.get("uuid")) or text(payload.get("id"))
        if not key:
            return []
        status = text(incident.get("status")).lower()
        return [s.incident(key=key, service=service, environment=environment,
                           opened_at=text(payload.get("date")) if status == "active" else None,
                           resolved_at=(text(payload.get("last_updated")) or text(payload.get("date")))
                           if status == "resolved" else None,
                           severity=text(incident.get("severity")), status=status,
                           title=text(incident.get("title")) or text(payload.get("title")),
                           url=text(incident.get("url")) or text(payload.get("link")))]
    alert = part(payload, "alert")
    key = text(alert.get("cycle_key")) or text(alert.get("aggregate_key")) or text(alert.get("id"))
    if not key:
        return []
    transition = text(alert.get("transition"))
    status = TRANSITIONS.get(transition.lower(), transition.lower().replace(" ", "_"))
    title = text(alert.get("title")) or text(payload.get("title"))
    at = text(payload.get("date"))
    found = [s.alert(key=key, title=title, status=status, at=at, service=service,
                     severity=text(alert.get("priority")), url=text(payload.get("link")))]
    if tagged.get("incident", "").lower() in ("true", "yes", "1") and status in ("triggered", "resolved"):
        found.append(s.incident(key=f"monitor:{key}", service=service, environment=environment,
                                opened_at=at if transition.lower() == "triggered" else None,
                                resolved_at=at if status == "resolved" else None,
                                severity=text(alert.get("priority")), status=status, title=title,
                                url=text(payload.get("link"))))
    return found


DATADOG = providers.register(WebhookProvider(
    name="datadog",
    title="Datadog",
    switch="datadog",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(notification_id, body_hash),
                      event_type=event_type),
        describe=verify.describe,
        signs=False,
        options=(Option("header", "The name of the custom header Datadog sends the secret in (letters, digits, "
                                  "dashes).", default=verify.DEFAULT_HEADER, pattern=r"^[A-Za-z0-9-]{1,100}$"),),
    ),
))
