"""/webhooks/github: any repository or organisation webhook. Dedup key: X-GitHub-Delivery; event type:
X-GitHub-Event (workflow_run, issues, pull_request, push, ...). Every event is remembered; routing rules
decide which ones notify someone (a failed workflow run: {"action": "completed",
"workflow_run.conclusion": "failure"})."""

from integrations import providers
from integrations.github import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.webhooks import header, json_body, json_object, tenant_from_url


def summarize(event: str, payload: dict) -> tuple[str, str]:
    """A line a person reads in a chat notification, and the link to the thing."""
    repo = (payload.get("repository") or {}).get("full_name", "")
    where = f" in {repo}" if repo else ""
    action = payload.get("action", "")
    if event == "workflow_run" and isinstance(payload.get("workflow_run"), dict):
        run = payload["workflow_run"]
        outcome = run.get("conclusion") or run.get("status") or action
        return (f"GitHub: workflow “{run.get('name', '?')}” {outcome} on {run.get('head_branch', '?')}{where} "
                f"(run #{run.get('run_number', '?')})", run.get("html_url", ""))
    if event in ("issues", "pull_request"):
        item = payload.get("issue") or payload.get("pull_request") or {}
        kind = "issue" if event == "issues" else "pull request"
        return f"GitHub: {kind} #{item.get('number', '?')} {action}{where}: {item.get('title', '')}", \
            item.get("html_url", "")
    if event == "push":
        branch = str(payload.get("ref", "")).removeprefix("refs/heads/")
        count = len(payload.get("commits") or [])
        who = (payload.get("pusher") or {}).get("name", "")
        return f"GitHub: {count} commit(s) pushed to {branch}{where} by {who}", payload.get("compare", "")
    if event == "release":
        release = payload.get("release") or {}
        return f"GitHub: release {release.get('tag_name', '')} {action}{where}", release.get("html_url", "")
    return f"GitHub: {event}{' ' + action if action else ''}{where}", (payload.get("repository") or {}).get(
        "html_url", "")


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    if delivery.event_type == "ping":
        return [providers.ignored("ping (GitHub checking the hook)")]
    payload = json_object(delivery.body)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=(payload.get("sender") or {}).get("login", ""))]


GITHUB = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.GITHUB,
    switch="github",
    verify=verify.verify,
    normalise=normalise,
    endpoints=(Endpoint(
        path="github", url_name="webhook-github",
        parse=json_body,
        dedup_key=header("X-GitHub-Delivery"),
        event_type=header("X-GitHub-Event"),
        tenant=tenant_from_url,
        keep_headers=("X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID"),
    ),),
))
