"""/webhooks/jira: Jira Cloud admin webhooks. Dedup key: X-Atlassian-Webhook-Identifier; event type: the
payload's webhookEvent (jira:issue_created, jira:issue_updated, comment_created, ...)."""

from urllib.parse import urlsplit

from integrations import providers
from integrations.jira import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.webhooks import header, json_body, json_object, tenant_from_url

VERBS = {"jira:issue_created": "created", "jira:issue_updated": "updated", "jira:issue_deleted": "deleted",
         "comment_created": "commented on", "comment_updated": "comment edited on"}


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


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    payload = json_object(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=(payload.get("user") or {}).get("displayName", ""))]


JIRA = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.JIRA,
    switch="jira",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(Endpoint(
        path="jira", url_name="webhook-jira",
        parse=json_body,
        dedup_key=header("X-Atlassian-Webhook-Identifier"),
        event_type=lambda request, payload: str(payload.get("webhookEvent", ""))[:100],
        tenant=tenant_from_url,
        keep_headers=("X-Atlassian-Webhook-Identifier", "X-Atlassian-Webhook-Retry"),
    ),),
))
