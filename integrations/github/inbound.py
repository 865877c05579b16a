"""/webhooks/github: any repository or organisation webhook. Dedup key: X-GitHub-Delivery; event type:
X-GitHub-Event (workflow_run, issues, pull_request, push, ...). Every event is remembered; routing rules
decide which ones notify someone (a failed workflow run: {"action": "completed",
"workflow_run.conclusion": "failure"}).

/webhooks/github/app: the webhooks of Emma's GitHub App, signed with GITHUB_APP_WEBHOOK_SECRET; their tenant is
the one the payload's `installation.id` was connected to (an unknown installation: no tenant, so nothing is
routed). `installation`, `installation_repositories` and `github_app_authorization` events change the
installation in the request itself, before the 200 (integrations.github.services.installation_event_apply);
every event is then processed like a repository webhook's, with that tenant, so routing rules apply; only
the App's deliveries (marked APP_ENDPOINT_HEADER when they arrive) may start agent runs (integrations.github.runs)."""

import logging

from integrations import providers
from integrations import signals as s
from integrations.github import verify
from integrations.github.runs import APP_ENDPOINT, APP_ENDPOINT_HEADER
from integrations.models import GitHubInstallation, WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.webhooks import Unusable, header, json_body, json_object, tenant_from_url


logger = logging.getLogger(__name__)
APP_EVENTS = ("installation", "installation_repositories", "github_app_authorization")


INACTIVE = "inactive"  # GitHub's status for an older deployment of an environment it retired (auto_inactive)


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def summarize(event: str, payload: dict) -> tuple[str, str]:
    """A line a person reads in a chat notification, and the link to the thing (any JSON: a field of the wrong
    type is as if missing)."""
    repository = obj(payload.get("repository"))
    repo = text(repository.get("full_name"))
    where = f" in {repo}" if repo else ""
    action = text(payload.get("action"))
    if event == "workflow_run" and isinstance(payload.get("workflow_run"), dict):
        run = payload["workflow_run"]
        outcome = text(run.get("conclusion")) or text(run.get("status")) or action
        return (f"GitHub: workflow “{text(run.get('name')) or '?'}” {outcome} on "
                f"{text(run.get('head_branch')) or '?'}{where} (run #{text(run.get('run_number')) or '?'})",
                text(run.get("html_url")))
    if event in ("issues", "pull_request"):
        item = obj(payload.get("issue") or payload.get("pull_request"))
        kind = "issue" if event == "issues" else "pull request"
        return (f"GitHub: {kind} #{text(item.get('number')) or '?'} {action}{where}: {text(item.get('title'))}",
                text(item.get("html_url")))
    if event == "push":
        branch = text(payload.get("ref")).removeprefix("refs/heads/")
        count = len(payload["commits"]) if isinstance(payload.get("commits"), list) else 0
        who = text(obj(payload.get("pusher")).get("name"))
        return f"GitHub: {count} commit(s) pushed to {branch}{where} by {who}", text(payload.get("compare"))
    if event == "release":
        release = obj(payload.get("release"))
        return f"GitHub: release {text(release.get('tag_name'))} {action}{where}", text(release.get("html_url"))
    return f"GitHub: {event}{' ' + action if action else ''}{where}", text(repository.get("html_url"))


# What must hold however the request that stored it fared: an uninstall and a revoked authorisation only ever
# take away (applying one again changes nothing), so processing applies them too, with its retries.
FOR_GOOD = {("installation", "deleted"), ("github_app_authorization", "revoked")}


def normalise(delivery: WebhookDelivery) -> list[providers.InboundEvent]:
    if delivery.event_type == "ping":
        return [providers.ignored("ping (GitHub checking the hook)")]
    payload = json_object(delivery.body)
    if (delivery.event_type, text(payload.get("action"))) in FOR_GOOD and delivery.headers.get(APP_ENDPOINT_HEADER):
        from integrations.github.services import installation_event_apply

        installation_event_apply(event=delivery.event_type, payload=payload)
    summary, url = summarize(delivery.event_type, payload)
    return [providers.tool_event(payload=payload, summary=summary, url=url,
                                 actor=text(obj(payload.get("sender")).get("login")))]


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """What GitHub says about delivering software: pushes' commits and merged pull requests (changes),
    deployments and their statuses (an `inactive` status says nothing: GitHub marks an environment's older
    deployments so when a newer one is made, and how the older one went stands), finished workflow runs (builds),
    issues. Any JSON is read without error: a field of the wrong type is as if missing."""
    event, repo = delivery.event_type, obj(payload.get("repository"))
    repository = text(repo.get("full_name"))
    if event == "push":
        commits = payload.get("commits") if isinstance(payload.get("commits"), list) else []
        return [s.change(sha=text(commit["id"]), repository=repository, committed_at=commit.get("timestamp"),
                         title=text(commit.get("message")).split("\n")[0], url=text(commit.get("url")),
                         push=text(payload.get("after")) or delivery.dedup_key,
                         author=text(obj(commit.get("author")).get("username")))
                for commit in commits if isinstance(commit, dict) and text(commit.get("id"))]
    if event == "pull_request" and isinstance(payload.get("pull_request"), dict):
        pull = payload["pull_request"]
        if payload.get("action") == "closed" and pull.get("merged") and text(pull.get("merge_commit_sha")):
            return [s.change(sha=text(pull["merge_commit_sha"]), repository=repository,
                             pull_request=text(pull.get("number")), merged_at=pull.get("merged_at"),
                             committed_at=pull.get("merged_at"), title=text(pull.get("title")),
                             url=text(pull.get("html_url")))]
        return []
    if event in ("deployment", "deployment_status") and isinstance(payload.get("deployment"), dict):
        deployment = payload["deployment"]
        status = obj(payload.get("deployment_status")) if event == "deployment_status" else {}
        if text(status.get("state")).lower() == INACTIVE:
            return []
        state = s.outcome(text(status.get("state")) or "pending")
        extra = obj(deployment.get("payload"))
        return [s.deployment(key=text(deployment.get("id")), service=text(extra.get("service") or repo.get("name")),
                             environment=text(deployment.get("environment")), status=state,
                             sha=text(deployment.get("sha")), started_at=deployment.get("created_at"),
                             finished_at=status.get("created_at") if state != s.IN_PROGRESS else None,
                             repository=repository, title=text(deployment.get("description")),
                             url=text(status.get("target_url")) or text(status.get("log_url")))]
    if event == "workflow_run" and isinstance(payload.get("workflow_run"), dict):
        run = payload["workflow_run"]
        if payload.get("action") != "completed":
            return []
        name = text(run.get("name"))
        return [s.build(key=text(run.get("id")), pipeline=name, status=s.outcome(text(run.get("conclusion"))),
                        started_at=run.get("run_started_at") or run.get("created_at"),
                        finished_at=run.get("updated_at"), sha=text(run.get("head_sha")), repository=repository,
                        title=f"{name} #{text(run.get('run_number'))}", url=text(run.get("html_url")))]
    if event == "issues" and isinstance(payload.get("issue"), dict):
        issue = payload["issue"]
        return [s.issue(key=f"{repository}#{text(issue.get('number'))}", title=text(issue.get("title")),
                        status=text(issue.get("state")), at=issue.get("updated_at"), project=repository,
                        assignee=text(obj(issue.get("assignee")).get("login")), url=text(issue.get("html_url")))]
    return []


def app_body(request) -> dict:
    """The App endpoint's JSON body; the request is marked as the App's (APP_ENDPOINT_HEADER, kept in the
    delivery's headers), so processing knows the delivery came through the App endpoint, with its own secret
    and the tenant of its installation. The repository webhook endpoint keeps no such header: it cannot be
    forged there."""
    payload = json_body(request)
    request.META["HTTP_" + APP_ENDPOINT_HEADER.upper().replace("-", "_")] = APP_ENDPOINT
    request.__dict__.pop("headers", None)  # HttpRequest.headers is cached: read META again
    return payload


def tenant_from_installation(request) -> int | None:
    """The tenant the payload's installation was connected to; None for an unknown one (never a guess)."""
    from integrations.github.services import github_id

    try:
        installation = json_object(request.body).get("installation")
    except Unusable:  # refused by parse before this is asked
        return None
    installation_id = github_id(installation.get("id")) if isinstance(installation, dict) else None
    if installation_id is None:
        return None
    return GitHubInstallation.objects.filter(installation_id=installation_id).values_list("tenant_id", flat=True).first()


def app_event_received(delivery: WebhookDelivery, payload) -> None:
    """Apply an installation's lifecycle at once. A failure here is logged: the delivery is stored, and its
    processing applies an uninstall or a revoked authorisation again (FOR_GOOD), retried until it holds."""
    if delivery.event_type in APP_EVENTS and isinstance(payload, dict):
        from integrations.github.services import installation_event_apply

        try:
            outcome = installation_event_apply(event=delivery.event_type, payload=payload)
        except Exception:  # noqa: BLE001 - never a 500 for GitHub, which would deliver it again and again
            logger.exception("GitHub App %s delivery %s could not be applied", delivery.event_type, delivery.pk)
            return
        logger.info("GitHub App %s.%s: %s", delivery.event_type, payload.get("action", ""), outcome)


REPOSITORY_WEBHOOK = Endpoint(
    path="github", url_name="webhook-github",
    parse=json_body,
    dedup_key=header("X-GitHub-Delivery"),
    event_type=header("X-GitHub-Event"),
    tenant=tenant_from_url,
    keep_headers=("X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID"),
)

GITHUB = providers.register(WebhookProvider(
    name=WebhookDelivery.Provider.GITHUB,
    title="GitHub",
    switch="github",
    verify=verify.verify,
    normalise=normalise,
    signals=signals,
    registration=Registration(check=verify.check, read=REPOSITORY_WEBHOOK, global_keys=True,
                              describe=lambda options: "HMAC-SHA256 of the body in X-Hub-Signature-256"),
    endpoints=(REPOSITORY_WEBHOOK, Endpoint(
        path="github/app", url_name="webhook-github-app",
        verify=verify.verify_app,
        parse=app_body,
        dedup_key=header("X-GitHub-Delivery"),
        event_type=header("X-GitHub-Event"),
        tenant=tenant_from_installation,
        received=app_event_received,
        keep_headers=("X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID",
                      "X-GitHub-Hook-Installation-Target-ID", APP_ENDPOINT_HEADER),
    )),
))
