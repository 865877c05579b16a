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


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def summarize(event: str, payload: dict) -> tuple[str, str]:
    """A line a person reads, and the link to the issue; any JSON is read (a field of the wrong type is as if
    missing)."""
    issue = obj(payload.get("issue"))
    fields = obj(issue.get("fields"))
    key = text(issue.get("key"))
    status = text(obj(fields.get("status")).get("name"))
    who = text(obj(payload.get("user")).get("displayName"))
    verb = VERBS.get(event, event.removeprefix("jira:").replace("_", " "))
    try:
        self_url = urlsplit(text(issue.get("self")))
    except ValueError:  # not a URL at all (an unbalanced IPv6 bracket)
        self_url = urlsplit("")
    url = f"{self_url.scheme}://{self_url.netloc}/browse/{key}" if self_url.netloc and key else ""
    line = f"Jira: {key} {verb}: {text(fields.get('summary'))}".rstrip(": ")
    if status:
        line += f" ({status})"
    if who:
        line += f" by {who}"
    return line, url


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    payload = json_object(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=text(obj(payload.get("user")).get("displayName")))]


DEFAULT_INCIDENT_TYPES = "Incident"


def incident_types(delivery: WebhookDelivery) -> set[str]:
    """The issue type names (lower-cased) that are incidents: the registered endpoint's option, else the default."""
    options = providers.endpoint_options(delivery)
    names = options.get("incident_types") or DEFAULT_INCIDENT_TYPES
    return {name.strip().lower() for name in names.split(",") if name.strip()}


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """An issue event is an issue (its status, type, project and assignee); one of an incident type is also an
    incident (service: its first component, else its project). Any JSON is read without error: a field of the
    wrong type is as if missing."""
    event, issue = text(payload.get("webhookEvent")), obj(payload.get("issue"))
    key = text(issue.get("key"))
    if not event.startswith("jira:issue_") or not key:
        return []
    fields = obj(issue.get("fields"))
    project = text(obj(fields.get("project")).get("key")) or key.split("-")[0]
    kind, summary = text(obj(fields.get("issuetype")).get("name")), text(fields.get("summary"))
    status = "deleted" if event == "jira:issue_deleted" else text(obj(fields.get("status")).get("name"))
    _, url = summarize(event, payload)
    found = [s.issue(key=key, title=summary, status=status, at=fields.get("updated"), project=project, kind=kind,
                     assignee=text(obj(fields.get("assignee")).get("displayName")), url=url)]
    if kind.strip().lower() in incident_types(delivery):
        listed = fields.get("components") if isinstance(fields.get("components"), list) else []
        components = [text(c.get("name")) for c in listed if isinstance(c, dict) and text(c.get("name"))]
        resolved = fields.get("resolutiondate") if text(fields.get("resolutiondate")) else None
        found.append(s.incident(key=key, service=components[0] if components else project,
                                opened_at=fields.get("created"), resolved_at=resolved,
                                severity=text(obj(fields.get("priority")).get("name")),
                                status="resolved" if resolved else "open", title=summary, url=url))
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
