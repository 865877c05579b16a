"""/webhooks/sentry: a Sentry internal integration's webhooks. Dedup key: the body's SHA-256 (Request-ID and
Sentry-Hook-Timestamp are not signed, so a captured request resent with new ones must still be a duplicate; the
signed body is what identifies a delivery; Request-ID is kept with it); event type: the Sentry-Hook-Resource
(event_alert, issue, metric_alert, error, ...).

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
from integrations.webhooks import body_hash, header, json_body, json_object, tenant_from_url


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def summarize(resource: str, payload: dict) -> tuple[str, str]:
    """A line a person reads, and the link; any JSON is read (a field of the wrong type is as if missing)."""
    data, action = obj(payload.get("data")), text(payload.get("action"))
    if resource == "event_alert":
        event = obj(data.get("event"))
        return (f"Sentry alert “{text(data.get('triggered_rule'))}”: {text(event.get('title'))}",
                text(event.get("web_url")))
    if resource == "issue":
        issue = obj(data.get("issue"))
        short = f" ({text(issue.get('shortId'))})" if text(issue.get("shortId")) else ""
        return (f"Sentry issue {action}: {text(issue.get('title'))}{short}",
                text(issue.get("web_url")) or text(issue.get("permalink")))
    if resource == "metric_alert":
        return f"Sentry metric alert {action}: {text(data.get('description_title'))}", text(data.get("web_url"))
    if resource == "error":
        error = obj(data.get("error"))
        return f"Sentry error: {text(error.get('title'))}", text(error.get("web_url"))
    return f"Sentry: {resource} {action}".strip(), ""


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    if delivery.event_type == "installation":
        return [providers.ignored("installation")]
    payload = json_object(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=text(obj(payload.get("actor")).get("name")))]


# An issue's action (or, for other actions such as `assigned`, its status) as an alert's state.
ISSUE_STATES = {"created": "firing", "unresolved": "firing", "resolved": "resolved", "ignored": "ignored",
                "archived": "ignored"}
METRIC_ALERT_STATES = {"critical": "firing", "warning": "firing", "resolved": "resolved"}


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """An issue is an alert keyed by the issue's id, firing when created and resolved or ignored when it is; a
    metric alert is an alert keyed by its incident's id, firing at critical or warning, else resolved. Any JSON is
    read without error: a field of the wrong type is as if missing."""
    data, action = obj(payload.get("data")), text(payload.get("action"))
    if delivery.event_type == "issue" and text(obj(data.get("issue")).get("id")):
        issue = data["issue"]
        status = text(issue.get("status"))
        state = ISSUE_STATES.get(action) or ISSUE_STATES.get(status, status)
        # Only the creation carries its own time (firstSeen); a later action happened when Sentry told us.
        at = issue.get("firstSeen") if action == "created" else delivery.received_at
        return [s.alert(key=f"issue:{text(issue['id'])}", title=text(issue.get("title")), status=state, at=at,
                        service=text(obj(issue.get("project")).get("slug")), severity=text(issue.get("level")),
                        url=text(issue.get("web_url")) or text(issue.get("permalink")))]
    if delivery.event_type == "metric_alert" and text(obj(data.get("metric_alert")).get("id")):
        incident = data["metric_alert"]
        rule = obj(incident.get("alert_rule"))
        state = METRIC_ALERT_STATES.get(action, action)
        at = incident.get("date_closed") if state == "resolved" else (
            incident.get("date_detected") or incident.get("date_started"))
        projects = rule.get("projects") if isinstance(rule.get("projects"), list) else []
        return [s.alert(key=f"metric_alert:{text(incident['id'])}",
                        title=text(data.get("description_title")) or text(rule.get("name"))
                        or text(incident.get("title")),
                        status=state, at=at or delivery.received_at, service=text(projects[0]) if projects else "",
                        severity=action if state == "firing" else "", url=text(data.get("web_url")))]
    return []


WEBHOOK = Endpoint(
    path="sentry", url_name="webhook-sentry",
    parse=json_body,
    dedup_key=body_hash,
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
