"""CircleCI outbound webhooks (Project Settings → Webhooks; events workflow-completed and job-completed), on a
tenant's registered endpoint. https://circleci.com/docs/webhooks-reference/
Dedup key: the payload's `id`; event type: its `type` (workflow-completed, job-completed; a test ping's type).

- workflow-completed is a build, keyed by workflow.id: pipeline workflow.name, status from workflow.status
  (success; failed, error, unauthorized: failure; canceled: cancelled), from workflow.created_at to
  workflow.stopped_at, at pipeline.vcs.revision of project.slug.
- a workflow (workflow-completed) or a job (job-completed) whose name matches the endpoint's Option
  "deploy_pattern" (a regular expression, searched case-insensitively; default `deploy`) and that succeeded is
  also a deployment, keyed by the workflow's or job's id, of project.name to the Option "environment" (default
  production), at pipeline.vcs.revision."""

import logging
import re

from integrations import providers
from integrations import signals as s
from integrations.circleci import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import json_body, new_token, payload_field

logger = logging.getLogger(__name__)

DEPLOY_PATTERN = "deploy"


def part(payload, *path) -> dict:
    value = payload
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def status_of(value) -> str:
    return s.FAILURE if str(value or "").lower() == "unauthorized" else s.outcome(value)


def matches(pattern: str, name: str) -> bool:
    """`pattern` searched in `name`, case-insensitively; one that is not a valid regular expression is searched
    for as plain text (the endpoint keeps working; the log says why)."""
    try:
        return re.search(pattern, name, re.IGNORECASE) is not None
    except re.error:
        logger.warning("deploy pattern %r is not a regular expression: matched as text", pattern)
        return pattern.lower() in name.lower()


def signals(delivery, payload) -> list[s.Signal]:
    """Finished workflows as builds; successful deploy workflows and jobs as deployments."""
    kind = payload.get("type")
    project, workflow = part(payload, "project"), part(payload, "workflow")
    sha = str(part(payload, "pipeline", "vcs").get("revision") or "")
    repository, service = str(project.get("slug") or ""), str(project.get("name") or "")
    options = providers.endpoint_options(delivery)
    pattern, environment = options.get("deploy_pattern") or DEPLOY_PATTERN, options.get("environment") or s.PRODUCTION
    found = []
    if kind == "workflow-completed" and workflow.get("id"):
        status = status_of(workflow.get("status"))
        title, url = f"{service} {workflow.get('name', '')}".strip(), str(workflow.get("url") or "")
        found.append(s.build(key=workflow["id"], pipeline=str(workflow.get("name") or ""), status=status,
                             started_at=workflow.get("created_at"), finished_at=workflow.get("stopped_at"), sha=sha,
                             repository=repository, title=title, url=url))
        if status == s.SUCCESS and matches(pattern, str(workflow.get("name") or "")):
            found.append(s.deployment(key=workflow["id"], service=service, environment=environment, status=status,
                                      sha=sha, started_at=workflow.get("created_at"),
                                      finished_at=workflow.get("stopped_at"), repository=repository, title=title,
                                      url=url))
    job = part(payload, "job")
    if kind == "job-completed" and job.get("id") and status_of(job.get("status")) == s.SUCCESS \
            and matches(pattern, str(job.get("name") or "")):
        found.append(s.deployment(key=job["id"], service=service, environment=environment, status=s.SUCCESS,
                                  sha=sha, started_at=job.get("started_at"), finished_at=job.get("stopped_at"),
                                  repository=repository, title=f"{service} {job.get('name', '')}".strip(),
                                  url=str(workflow.get("url") or "")))
    return found


CIRCLECI = providers.register(WebhookProvider(
    name="circleci",
    title="CircleCI",
    switch="circleci",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=payload_field("id"),
                      event_type=payload_field("type"), keep_headers=("circleci-event-type",)),
        describe=lambda options: "HMAC-SHA256 of the body in circleci-signature (v1=…)",
        new_secret=new_token,
        options=(
            Option("deploy_pattern", "A regular expression: workflows and jobs whose name it matches are "
                                     "deployments when they succeed.",
                   default=DEPLOY_PATTERN, pattern=r"^[^\x00-\x1f]{1,200}$"),
            Option("environment", "The environment the deploy workflows and jobs deploy to (letters, digits, "
                                  ". _ : / -).", default=s.PRODUCTION),
        ),
    ),
))
