"""/webhooks/sentry: a Sentry internal integration's webhooks. Dedup key: Request-ID; event type: the
Sentry-Hook-Resource (event_alert, issue, metric_alert, error, ...).

A tenant may also register its own Sentry endpoints (/webhooks/sentry/<endpoint id>), whose secret is the internal
integration's client secret (checked the same way, integrations.sentry.verify.check). Engineering events, from
either: an issue (created, resolved, ignored, ...) and a metric alert (critical, warning, resolved) are alerts.
https://docs.sentry.io/organization/integrations/integration-platform/webhooks/issues/
https://docs.sentry.io/organization/integrations/integration-platform/webhooks/metric-alerts/"""

from integrations import providers
from integrations import signals as s
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.sentry import verify
from integrations.webhooks import header, json_body, json_object, tenant_from_url


def summarize(resource: str, payload: dict) -> tuple[str, str]:
    data = payload.get("data") or {}
    action = payload.get("action", "")
    if resource == "event_alert":
        event = data.get("event") or {}
        rule = data.get("triggered_rule", "")
        return f"Sentry alert “{rule}”: {event.get('title', '')}", event.get("web_url", "")
    if resource == "issue":
        issue = data.get("issue") or {}
        short = f" ({issue['shortId']})" if issue.get("shortId") else ""
        return f"Sentry issue {action}: {issue.get('title', '')}{short}", issue.get("web_url") or issue.get(
            "permalink", "")
    if resource == "metric_alert":
        return f"Sentry metric alert {action}: {data.get('description_title', '')}", data.get("web_url", "")
    if resource == "error":
        error = data.get("error") or {}
        return f"Sentry error: {error.get('title', '')}", error.get("web_url", "")
    return f"Sentry: {resource} {action}".strip(), ""


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    if delivery.event_type == "installation":
        return [providers.ignored("installation")]
    payload = json_object(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=(payload.get("actor") or {}).get("name", ""))]


# An issue's action (or, for other actions such as `assigned`, its status) as an alert's state.
ISSUE_STATES = {"created": "firing", "unresolved": "firing", "resolved": "resolved", "ignored": "ignored",
                "archived": "ignored"}
METRIC_ALERT_STATES = {"critical": "firing", "warning": "firing", "resolved": "resolved"}


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """An issue is an alert keyed by the issue's id, firing when created and resolved or ignored when it is; a
    metric alert is an alert keyed by its incident's id, firing at critical or warning, else resolved."""
    data, action = payload.get("data") if isinstance(payload.get("data"), dict) else {}, payload.get("action", "")
    if delivery.event_type == "issue" and isinstance(data.get("issue"), dict) and data["issue"].get("id"):
        issue = data["issue"]
        state = ISSUE_STATES.get(action) or ISSUE_STATES.get(str(issue.get("status", "")), str(issue.get("status", "")))
        # Only the creation carries its own time (firstSeen); a later action happened when Sentry told us.
        at = issue.get("firstSeen") if action == "created" else delivery.received_at
        return [s.alert(key=f"issue:{issue['id']}", title=issue.get("title", "") or "", status=state, at=at,
                        service=(issue.get("project") or {}).get("slug", "") or "", severity=issue.get("level", ""),
                        url=issue.get("web_url") or issue.get("permalink") or "")]
    if delivery.event_type == "metric_alert" and isinstance(data.get("metric_alert"), dict):
        incident = data["metric_alert"]
        if not incident.get("id"):
            return []
        rule = incident.get("alert_rule") if isinstance(incident.get("alert_rule"), dict) else {}
        state = METRIC_ALERT_STATES.get(action, action)
        at = incident.get("date_closed") if state == "resolved" else (
            incident.get("date_detected") or incident.get("date_started"))
        projects = rule.get("projects") or []
        return [s.alert(key=f"metric_alert:{incident['id']}",
                        title=data.get("description_title") or rule.get("name") or incident.get("title") or "",
                        status=state, at=at or delivery.received_at, service=str(projects[0]) if projects else "",
                        severity=action if state == "firing" else "", url=data.get("web_url", "") or "")]
    return []


WEBHOOK = Endpoint(
    path="sentry", url_name="webhook-sentry",
    parse=json_body,
    dedup_key=header("Request-ID"),
    event_type=header("Sentry-Hook-Resource"),
    tenant=tenant_from_url,
    keep_headers=("Request-ID", "Sentry-Hook-Resource", "Sentry-Hook-Timestamp"),
)

SENTRY = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.SENTRY,
    title="Sentry",
    switch="sentry",
    verify=verify.verify,
    normalise=normalise,
    signals=signals,
    registration=Registration(
        check=verify.check, read=WEBHOOK,
        describe=lambda options: ("HMAC-SHA256 of the body in Sentry-Hook-Signature (the integration's client "
                                  "secret), Sentry-Hook-Timestamp within 5 minutes")),
    endpoints=(WEBHOOK,),
))
