"""A repository's delivery history read from GitHub's REST API into the engineering-event tables, so the DORA
metrics start with the past instead of the day the webhook was registered.

What is read (integrations.github.client): the deployments created since a date, each with its statuses (the
latest that is not `inactive` decides the outcome and the finish time), the pull requests merged since then, and the default branch's
commits since then. Each becomes the engineering event the webhook of the same thing makes
(integrations.github.inbound.signals): deployments and pull requests are given to that very function, shaped as
the `deployment`/`deployment_status` and `pull_request` deliveries GitHub would have sent (the REST objects are
the webhook payload's objects), so keys, service names and field meanings cannot drift apart; commits are
read as a push's commits are. Everything is stored by integrations.dora.services.signals_store, one row per
thing: a backfill run twice, or after the webhooks, updates rows and adds none.

Credentials: the tenant's GitHub App installation that reaches the repository when there is one, else a token
of GitHub's own (a personal access token with read access to the repository)."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction

from core.errors import Forbidden, Invalid, NotFound
from integrations import signals as s
from integrations.dora.services import signals_store
from integrations.github import client
from integrations.github.inbound import INACTIVE
from integrations.github.inbound import signals as webhook_signals
from integrations.models import WebhookDelivery

PROVIDER = "github"  # the provider name the webhooks' rows carry: the same rows
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
STORE_CHUNK = 500  # events stored per transaction


def _as_delivered(event: str, payload: dict) -> list[s.Signal]:
    """The engineering events the webhook makes of `payload` delivered as `event` (never saved: no delivery
    happened)."""
    return webhook_signals(WebhookDelivery(provider=PROVIDER, event_type=event, dedup_key=""), payload)


def deployment_signals(deployment: dict, statuses: list[dict], repository: dict) -> list[s.Signal]:
    """A deployment as its latest status that is not `inactive` says it, as that status's `deployment_status`
    delivery would (GitHub lists the newest first, and marks a deployment inactive when a newer one of its
    environment is made: that says nothing about how it went). No such status: as the `deployment` delivery, in
    progress."""
    latest = next((status for status in statuses
                   if str(status.get("state") or "").lower() != INACTIVE), None)
    if latest:
        return _as_delivered("deployment_status", {"action": "created", "deployment": deployment,
                                                   "deployment_status": latest, "repository": repository})
    return _as_delivered("deployment", {"action": "created", "deployment": deployment, "repository": repository})


def pull_signals(pull: dict, repository: dict) -> list[s.Signal]:
    """A merged pull request as its `closed` delivery says it (the REST list leaves out `merged`; a merge time
    says it)."""
    return _as_delivered("pull_request", {"action": "closed", "pull_request": {**pull, "merged": bool(
        pull.get("merged_at"))}, "repository": repository})


def commit_signal(commit: dict, repository: dict) -> s.Signal:
    """A commit as a push delivery's commit says it (sha, repository, commit time, first line of the message,
    link, author's login), plus its authoring time. The push that brought it is left empty: GitHub's API does
    not say, and an empty field keeps what a push delivery said."""
    detail = commit.get("commit") or {}
    return s.change(sha=commit["sha"], repository=repository["full_name"],
                    committed_at=(detail.get("committer") or {}).get("date"),
                    authored_at=(detail.get("author") or {}).get("date"),
                    title=str(detail.get("message") or "").split("\n")[0], url=commit.get("html_url") or "",
                    author=(commit.get("author") or {}).get("login") or "")


def _github(*, tenant_id: int, repo: str, token: str | None):
    """A client for `repo`: the tenant's installation that reaches it, else the token."""
    try:
        installation = client.installation_for_repo(tenant_id=tenant_id, repo=repo)
    except (NotFound, Forbidden) as exc:
        if token:
            return client.client_with_token(token), "token"
        raise Forbidden(f"{exc.message} Without it, give a GitHub token that can read {repo} "
                        "(--token or GITHUB_BACKFILL_TOKEN).") from None
    return client.client_for(installation), f"installation {installation.installation_id}"


def _store(*, tenant_id: int, found: list[s.Signal]) -> None:
    for first in range(0, len(found), STORE_CHUNK):
        with transaction.atomic():
            signals_store(tenant_id=tenant_id, provider=PROVIDER, signals=found[first:first + STORE_CHUNK])


def backfill(*, tenant_id: int, repo: str, since: datetime, token: str | None = None) -> dict:
    """Read `repo`'s deployments, merged pull requests and commits since `since` from GitHub and store them as
    the webhooks would have. Idempotent: the rows are the webhooks' rows (same provider, same keys), updated in
    place. Answers what was read, by kind, and which credentials read it. Invalid for a repository that is not
    "owner/name", Forbidden without credentials, NotFound when GitHub does not show the repository to them;
    any other refusal leaves as client.GitHubFailure."""
    repo = (repo or "").strip()
    if not REPOSITORY.fullmatch(repo):
        raise Invalid.field("repo", f"{repo!r} is not a repository: owner/name.")
    github, credentials = _github(tenant_id=tenant_id, repo=repo, token=token)
    try:
        repository = client.repository_read(github, repo=repo)
    except client.GitHubFailure as exc:
        if exc.status == 404:
            raise NotFound(f"GitHub shows no repository {repo} to the {credentials} (404): check its name and "
                           "that these credentials can read it.") from None
        raise
    full_name = repository["full_name"]
    deployments = client.deployments_read(github, repo=full_name, since=since)
    found = [signal for deployment in deployments for signal in deployment_signals(
        deployment, client.deployment_statuses_read(github, repo=full_name, deployment_id=int(deployment["id"])),
        repository)]
    pulls = client.merged_pulls_read(github, repo=full_name, since=since)
    found += [signal for pull in pulls for signal in pull_signals(pull, repository)]
    commits = client.commits_read(github, repo=full_name, since=since)
    found += [commit_signal(commit, repository) for commit in commits if commit.get("sha")]
    _store(tenant_id=tenant_id, found=found)
    return {"repository": full_name, "credentials": credentials, "deployments": len(deployments),
            "pull_requests": len(pulls), "commits": len(commits), "events": len(found)}
