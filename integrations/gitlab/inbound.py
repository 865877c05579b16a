"""GitLab project, group and system webhooks, at a tenant's endpoint /webhooks/gitlab/<id>.
https://docs.gitlab.com/user/project/integrations/webhook_events/

Dedup key: webhook-id when the delivery is signed (Standard Webhooks headers: the id is part of what is signed, so
a replay under a new id fails the check), else Idempotency-Key (GitLab 17.4+, the same on every retry of one
delivery; webhook-id carries the same value; unsigned), else X-Gitlab-Event-UUID, else the body's hash. Event type: X-Gitlab-Event (Push Hook, Merge Request Hook,
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
from integrations.standardwebhooks import verify as standard
from integrations.standardwebhooks.verify import new_secret
from integrations.webhooks import body_hash, first_of, header, json_body

SHA = re.compile(r"^[0-9a-f]{40}$")


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _project(payload: dict) -> tuple[str, str]:
    """The project's path (acme/shop, the repository) and its last part (shop, the service)."""
    project = obj(payload.get("project"))
    path = text(project.get("path_with_namespace"))
    return path, path.rsplit("/", 1)[-1] or text(project.get("name"))


def _first_line(value) -> str:
    return text(value).split("\n")[0]


def _push(delivery: WebhookDelivery, payload: dict, repository: str) -> list[s.Signal]:
    push = text(payload.get("checkout_sha")) or text(payload.get("after")) or delivery.dedup_key
    commits = payload.get("commits") if isinstance(payload.get("commits"), list) else []
    return [s.change(sha=text(commit["id"]), repository=repository, committed_at=commit.get("timestamp"),
                     title=text(commit.get("title")) or _first_line(commit.get("message")),
                     url=text(commit.get("url")), push=push, author=text(obj(commit.get("author")).get("name")))
            for commit in commits if isinstance(commit, dict) and text(commit.get("id"))]


def _merged(attributes: dict, repository: str) -> list[s.Signal]:
    if attributes.get("action") != "merge" or not text(attributes.get("merge_commit_sha")):
        return []
    merged_at = attributes.get("merged_at") or attributes.get("updated_at")
    return [s.change(sha=text(attributes["merge_commit_sha"]), repository=repository,
                     pull_request=text(attributes.get("iid")), merged_at=merged_at, committed_at=merged_at,
                     title=text(attributes.get("title")), url=text(attributes.get("url")))]


def _deployment(payload: dict, repository: str, service: str) -> list[s.Signal]:
    if not text(payload.get("deployment_id")):
        return []
    status = s.outcome(text(payload.get("status")))
    changed_at = payload.get("status_changed_at")
    # The hook sends short_sha; the full one ends commit_url (…/-/commit/<sha>).
    commit = text(payload.get("commit_url")).rstrip("/").rsplit("/", 1)[-1]
    sha = commit if SHA.match(commit) else text(payload.get("short_sha"))
    tier = text(payload.get("environment_tier"))
    return [s.deployment(key=text(payload["deployment_id"]), service=service,
                         environment=s.PRODUCTION if tier == s.PRODUCTION else text(payload.get("environment")),
                         status=status, sha=sha, started_at=changed_at if status == s.IN_PROGRESS else None,
                         finished_at=changed_at if status != s.IN_PROGRESS else None, repository=repository,
                         title=text(payload.get("commit_title")), url=text(payload.get("deployable_url")))]


def _seconds(value) -> float | None:
    """A duration in seconds, or None when it is not a number a float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _pipeline(attributes: dict, repository: str) -> list[s.Signal]:
    if not text(attributes.get("id")):
        return []
    key = text(attributes["id"])
    return [s.build(key=key, pipeline=text(attributes.get("name")) or text(attributes.get("ref")),
                    status=s.outcome(text(attributes.get("status"))),
                    duration_seconds=_seconds(attributes.get("duration")),
                    started_at=attributes.get("created_at"), finished_at=attributes.get("finished_at"),
                    sha=text(attributes.get("sha")), repository=repository,
                    title=f"{repository} pipeline #{text(attributes.get('iid')) or key}",
                    url=text(attributes.get("url")))]


def _issue(payload: dict, attributes: dict, repository: str, service: str) -> list[s.Signal]:
    if not text(attributes.get("iid")):
        return []
    key, state = f"{repository}#{text(attributes['iid'])}", text(attributes.get("state"))
    assignees = payload.get("assignees") if isinstance(payload.get("assignees"), list) else []
    kind, title, url = text(attributes.get("issue_type")), text(attributes.get("title")), text(attributes.get("url"))
    found = [s.issue(key=key, title=title, status=state, at=attributes.get("updated_at"), project=repository,
                     kind=kind, assignee=text(obj(assignees[0] if assignees else None).get("username")), url=url)]
    if kind == "incident":
        found.append(s.incident(key=key, service=service, opened_at=attributes.get("created_at"),
                                resolved_at=attributes.get("closed_at") if state == "closed" else None,
                                severity=text(attributes.get("severity")), status=state, title=title, url=url))
    return found


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """What GitLab says about delivering software: pushes' commits and merged merge requests (changes),
    deployments, pipelines (builds), issues and incidents. Any JSON is read without error: a field of the wrong type
    is as if missing."""
    kind = payload.get("object_kind")
    attributes = obj(payload.get("object_attributes"))
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


def signed_id(request, payload) -> str:
    """webhook-id, when the request carries a Standard Webhooks signature (which covers it); else nothing."""
    return request.headers.get(standard.ID, "") if standard.signed(request) else ""


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
                      dedup_key=first_of(signed_id, header("Idempotency-Key"), header("webhook-id"),
                                         header("X-Gitlab-Event-UUID"), body_hash),
                      event_type=event_type,
                      keep_headers=("X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID",
                                    "Idempotency-Key", "webhook-id", "X-Gitlab-Instance")),
        describe=lambda options: "the secret as GitLab's signing token (webhook-signature, Standard Webhooks, "
                                 "timestamp within 5 minutes) or as its secret token (X-Gitlab-Token)",
        new_secret=new_secret),
))
