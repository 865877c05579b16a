"""/webhooks/jira: Jira Cloud admin webhooks. Dedup key: X-Atlassian-Webhook-Identifier; event type: the
payload's webhookEvent (jira:issue_created, jira:issue_updated, comment_created, ...).

A tenant may also register its own Jira endpoints (/webhooks/jira/<endpoint id>), signed the same way with the
endpoint's secret. Engineering events, from either: every issue event is an issue; an issue whose type is one of
the endpoint's `incident_types` (default "Incident"; the global endpoint always uses the default) is also an
incident, opened when the issue was created and resolved at its resolution date."""

from urllib.parse import urlsplit

from integrations import providers
from integrations import signals as s
from integrations.jira import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
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


DEFAULT_INCIDENT_TYPES = "Incident"


def incident_types(delivery: WebhookDelivery) -> set[str]:
    """The issue type names (lower-cased) that are incidents: the registered endpoint's option, else the default."""
    options = providers.endpoint_options(delivery)
    names = options.get("incident_types") or DEFAULT_INCIDENT_TYPES
    return {name.strip().lower() for name in names.split(",") if name.strip()}


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """An issue event is an issue (its status, type, project and assignee); one of an incident type is also an
    incident (service: its first component, else its project)."""
    event, issue = str(payload.get("webhookEvent", "")), payload.get("issue")
    if not event.startswith("jira:issue_") or not isinstance(issue, dict) or not issue.get("key"):
        return []
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    key, project = str(issue["key"]), (fields.get("project") or {}).get("key", "") or str(issue["key"]).split("-")[0]
    kind = (fields.get("issuetype") or {}).get("name", "") or ""
    status = "deleted" if event == "jira:issue_deleted" else (fields.get("status") or {}).get("name", "") or ""
    _, url = summarize(event, payload)
    found = [s.issue(key=key, title=fields.get("summary", "") or "", status=status, at=fields.get("updated"),
                     project=project, kind=kind, assignee=(fields.get("assignee") or {}).get("displayName", "") or "",
                     url=url)]
    if kind.strip().lower() in incident_types(delivery):
        components = [c.get("name") for c in fields.get("components") or [] if isinstance(c, dict) and c.get("name")]
        resolved = fields.get("resolutiondate")
        found.append(s.incident(key=key, service=components[0] if components else project,
                                opened_at=fields.get("created"), resolved_at=resolved,
                                severity=(fields.get("priority") or {}).get("name", "") or "",
                                status="resolved" if resolved else "open", title=fields.get("summary", "") or "",
                                url=url))
    return found


WEBHOOK = Endpoint(
    path="jira", url_name="webhook-jira",
    parse=json_body,
    dedup_key=header("X-Atlassian-Webhook-Identifier"),
    event_type=lambda request, payload: str(payload.get("webhookEvent", ""))[:100],
    tenant=tenant_from_url,
    keep_headers=("X-Atlassian-Webhook-Identifier", "X-Atlassian-Webhook-Retry"),
)

JIRA = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.JIRA,
    title="Jira",
    switch="jira",
    verify=verify.verify,
    normalise=normalise,
    signals=signals,
    registration=Registration(
        check=verify.check, read=WEBHOOK,
        describe=lambda options: "HMAC-SHA256 of the body in X-Hub-Signature (sha256=...)",
        options=(Option("incident_types", "Issue type names that are incidents, comma-separated (Incident).",
                        default=DEFAULT_INCIDENT_TYPES, pattern=r"^[^,\x00-\x1f]{1,60}(,[^,\x00-\x1f]{1,60}){0,19}$"),)),
    endpoints=(WEBHOOK,),
))
