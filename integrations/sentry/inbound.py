"""/webhooks/sentry: a Sentry internal integration's webhooks. Dedup key: Request-ID; event type: the
Sentry-Hook-Resource (event_alert, issue, metric_alert, error, ...)."""

from integrations import services
from integrations.models import WebhookDelivery
from integrations.sentry import verify
from integrations.webhooks import Accepted, Unusable, WebhookView, header_subset, json_payload, webhook_tenant_id


class SentryView(WebhookView):
    provider = WebhookDelivery.Provider.SENTRY
    integration = "sentry"

    def verify(self, request) -> None:
        verify.verify(request)

    def accept(self, request):
        request_id, resource = request.headers.get("Request-ID"), request.headers.get("Sentry-Hook-Resource")
        if not request_id or not resource:
            raise Unusable("Request-ID and Sentry-Hook-Resource are required.")
        json_payload(request.body)
        return Accepted(dedup_key=request_id, event_type=resource, tenant_id=webhook_tenant_id(request),
                        headers=header_subset(request, ["Request-ID", "Sentry-Hook-Resource", "Sentry-Hook-Timestamp"]))


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


def process(delivery: WebhookDelivery) -> str:
    if delivery.event_type == "installation":
        return "ignored: installation"
    payload = json_payload(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return services.event_receive(delivery=delivery, payload=payload, summary=summary, url=url,
                                  actor=(payload.get("actor") or {}).get("name", ""))
