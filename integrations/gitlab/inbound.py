"""GitLab project, group and system webhooks, at a tenant's endpoint /webhooks/gitlab/<id>.
https://docs.gitlab.com/user/project/integrations/webhook_events/

Dedup key: Idempotency-Key (GitLab 17.4+, the same on every retry of one delivery; webhook-id carries the same
value), else X-Gitlab-Event-UUID, else the body's hash. Event type: X-Gitlab-Event (Push Hook, Merge Request Hook,
Deployment Hook, Pipeline Hook, Issue Hook, ...), else the payload's object_kind.

What it says about delivering software (read from object_kind, which names the same thing as the header):
    push           each commit a change, grouped by the push's checkout_sha (else `after`)
    merge_request  merged (action merge): a change for merge_commit_sha, merged when the MR says (else updated)
    deployment     a deployment (deployment_id): running, success, failed, canceled
    pipeline       a build (object_attributes.id)
    issue          an issue; an incident as well when its issue_type is incident (opened at created_at,
                   resolved at closed_at)"""

import re

from integrations import providers
from integrations import signals as s
from integrations.gitlab import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.standardwebhooks.verify import new_secret
from integrations.webhooks import body_hash, first_of, header, json_body

SHA = re.compile(r"^[0-9a-f]{40}$")


def _project(payload: dict) -> tuple[str, str]:
    """The project's path (acme/shop, the repository) and its last part (shop, the service)."""
    project = payload.get("project") if isinstance(payload.get("project"), dict) else {}
    path = str(project.get("path_with_namespace") or "")
    return path, path.rsplit("/", 1)[-1] or str(project.get("name") or "")


def _first_line(text) -> str:
    return str(text or "").split("\n")[0]


def _push(delivery: WebhookDelivery, payload: dict, repository: str) -> list[s.Signal]:
    push = str(payload.get("checkout_sha") or payload.get("after") or delivery.dedup_key)
    return [s.change(sha=commit["id"], repository=repository, committed_at=commit.get("timestamp"),
                     title=str(commit.get("title") or _first_line(commit.get("message"))), url=commit.get("url") or "",
                     push=push, author=str((commit.get("author") or {}).get("name") or ""))
            for commit in payload.get("commits") or [] if isinstance(commit, dict) and commit.get("id")]


def _merged(attributes: dict, repository: str) -> list[s.Signal]:
    if attributes.get("action") != "merge" or not attributes.get("merge_commit_sha"):
        return []
    merged_at = attributes.get("merged_at") or attributes.get("updated_at")
    return [s.change(sha=attributes["merge_commit_sha"], repository=repository,
                     pull_request=str(attributes.get("iid") or ""), merged_at=merged_at, committed_at=merged_at,
                     title=str(attributes.get("title") or ""), url=str(attributes.get("url") or ""))]


def _deployment(payload: dict, repository: str, service: str) -> list[s.Signal]:
    if not payload.get("deployment_id"):
        return []
    status = s.outcome(payload.get("status"))
    changed_at = payload.get("status_changed_at")
    # The hook sends short_sha; the full one ends commit_url (…/-/commit/<sha>).
    commit = str(payload.get("commit_url") or "").rstrip("/").rsplit("/", 1)[-1]
    sha = commit if SHA.match(commit) else str(payload.get("short_sha") or "")
    tier = str(payload.get("environment_tier") or "")
    return [s.deployment(key=payload["deployment_id"], service=service,
                         environment=s.PRODUCTION if tier == s.PRODUCTION else str(payload.get("environment") or ""),
                         status=status, sha=sha, started_at=changed_at if status == s.IN_PROGRESS else None,
                         finished_at=changed_at if status != s.IN_PROGRESS else None, repository=repository,
                         title=str(payload.get("commit_title") or ""), url=str(payload.get("deployable_url") or ""))]


def _pipeline(attributes: dict, repository: str) -> list[s.Signal]:
    if not attributes.get("id"):
        return []
    duration = attributes.get("duration")
    return [s.build(key=attributes["id"], pipeline=str(attributes.get("name") or attributes.get("ref") or ""),
                    status=s.outcome(attributes.get("status")),
                    duration_seconds=float(duration) if isinstance(duration, (int, float)) else None,
                    started_at=attributes.get("created_at"), finished_at=attributes.get("finished_at"),
                    sha=str(attributes.get("sha") or ""), repository=repository,
                    title=f"{repository} pipeline #{attributes.get('iid') or attributes['id']}",
                    url=str(attributes.get("url") or ""))]


def _issue(payload: dict, attributes: dict, repository: str, service: str) -> list[s.Signal]:
    if not attributes.get("iid"):
        return []
    key, state = f"{repository}#{attributes['iid']}", str(attributes.get("state") or "")
    assignees = payload.get("assignees") if isinstance(payload.get("assignees"), list) else []
    found = [s.issue(key=key, title=str(attributes.get("title") or ""), status=state,
                     at=attributes.get("updated_at"), project=repository, kind=str(attributes.get("issue_type") or ""),
                     assignee=str((assignees[0] if assignees and isinstance(assignees[0], dict) else {}).get(
                         "username") or ""), url=str(attributes.get("url") or ""))]
    if attributes.get("issue_type") == "incident":
        found.append(s.incident(key=key, service=service, opened_at=attributes.get("created_at"),
                                resolved_at=attributes.get("closed_at") if state == "closed" else None,
                                severity=str(attributes.get("severity") or ""), status=state,
                                title=str(attributes.get("title") or ""), url=str(attributes.get("url") or "")))
    return found


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """What GitLab says about delivering software: pushes' commits and merged merge requests (changes),
    deployments, pipelines (builds), issues and incidents."""
    kind = payload.get("object_kind")
    attributes = payload.get("object_attributes") if isinstance(payload.get("object_attributes"), dict) else {}
    repository, service = _project(payload)
    if kind == "push":
        return _push(delivery, payload, repository)
    if kind == "merge_request":
        return _merged(attributes, repository)
    if kind == "deployment":
        return _deployment(payload, repository, service)
    if kind == "pipeline":
        return _pipeline(attributes, repository)
    if kind == "issue":
        return _issue(payload, attributes, repository, service)
    return []


def event_type(request, payload) -> str:
    return str(request.headers.get("X-Gitlab-Event") or payload.get("object_kind") or "")[:100]


GITLAB = providers.register(WebhookProvider(
    name="gitlab",
    title="GitLab",
    switch="gitlab",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body,
                      dedup_key=first_of(header("Idempotency-Key"), header("webhook-id"),
                                         header("X-Gitlab-Event-UUID"), body_hash),
                      event_type=event_type,
                      keep_headers=("X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID",
                                    "Idempotency-Key", "X-Gitlab-Instance")),
        describe=lambda options: "the secret as GitLab's signing token (webhook-signature, Standard Webhooks, "
                                 "timestamp within 5 minutes) or as its secret token (X-Gitlab-Token)",
        new_secret=new_secret),
))
