"""/webhooks/sentry: a Sentry internal integration's webhooks. Dedup key: Request-ID; event type: the
Sentry-Hook-Resource (event_alert, issue, metric_alert, error, ...)."""

from integrations import providers
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
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


SENTRY = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.SENTRY,
    switch="sentry",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(Endpoint(
        path="sentry", url_name="webhook-sentry",
        parse=json_body,
        dedup_key=header("Request-ID"),
        event_type=header("Sentry-Hook-Resource"),
        tenant=tenant_from_url,
        keep_headers=("Request-ID", "Sentry-Hook-Resource", "Sentry-Hook-Timestamp"),
    ),),
))
