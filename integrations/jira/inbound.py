"""/webhooks/jira: Jira Cloud admin webhooks. Dedup key: X-Atlassian-Webhook-Identifier; event type: the
payload's webhookEvent (jira:issue_created, jira:issue_updated, comment_created, ...)."""

from urllib.parse import urlsplit

from integrations import services
from integrations.jira import verify
from integrations.models import WebhookDelivery
from integrations.webhooks import Accepted, Unusable, WebhookView, header_subset, json_payload, webhook_tenant_id

VERBS = {"jira:issue_created": "created", "jira:issue_updated": "updated", "jira:issue_deleted": "deleted",
         "comment_created": "commented on", "comment_updated": "comment edited on"}


class JiraView(WebhookView):
    provider = WebhookDelivery.Provider.JIRA
    integration = "jira"

    def verify(self, request) -> None:
        verify.verify(request)

    def accept(self, request):
        identifier = request.headers.get("X-Atlassian-Webhook-Identifier")
        if not identifier:
            raise Unusable("X-Atlassian-Webhook-Identifier is required.")
        payload = json_payload(request.body)
        return Accepted(dedup_key=identifier, event_type=str(payload.get("webhookEvent", ""))[:100],
                        tenant_id=webhook_tenant_id(request),
                        headers=header_subset(request, ["X-Atlassian-Webhook-Identifier", "X-Atlassian-Webhook-Retry"]))


def summarize(event: str, payload: dict) -> tuple[str, str]:
    issue = payload.get("issue") or {}
    fields = issue.get("fields") or {}
    key = issue.get("key", "")
    status = (fields.get("status") or {}).get("name", "")
    who = (payload.get("user") or {}).get("displayName", "")
    verb = VERBS.get(event, event.removeprefix("jira:").replace("_", " "))
    self_url = urlsplit(issue.get("self", ""))
    url = f"{self_url.scheme}://{self_url.netloc}/browse/{key}" if self_url.netloc and key else ""
    text = f"Jira: {key} {verb}: {fields.get('summary', '')}".rstrip(": ")
    if status:
        text += f" ({status})"
    if who:
        text += f" by {who}"
    return text, url


def process(delivery: WebhookDelivery) -> str:
    payload = json_payload(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return services.event_receive(delivery=delivery, payload=payload, summary=summary, url=url,
                                  actor=(payload.get("user") or {}).get("displayName", ""))
