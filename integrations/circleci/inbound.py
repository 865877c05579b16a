"""CircleCI outbound webhooks (Project Settings → Webhooks; events workflow-completed and job-completed), on a
tenant's registered endpoint. https://circleci.com/docs/webhooks-reference/
Dedup key: the payload's `id`; event type: its `type` (workflow-completed, job-completed; a test ping's type).

- workflow-completed is a build, keyed by workflow.id: pipeline workflow.name, status from workflow.status
  (success; failed, error, unauthorized: failure; canceled: cancelled), from workflow.created_at to
  workflow.stopped_at, at pipeline.vcs.revision of project.slug.
- a workflow (workflow-completed) or a job (job-completed) whose name matches the endpoint's Option
  "deploy_pattern" (a shell-style glob, case-insensitive: `deploy-*`, `*-prod`; one without wildcards is looked
  for anywhere in the name; default `deploy`) and that succeeded is also a deployment of project.name to the
  Option "environment" (default production), at pipeline.vcs.revision. It is keyed by the pipeline (pipeline.id,
  else the revision): a deploy workflow and its deploy jobs are one release, one row, which each of their
  deliveries updates (started at the earliest start, finished at the last finish seen)."""


from integrations import providers
from integrations import signals as s
from integrations.circleci import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import json_body, new_token, payload_field

# A glob: printable, without the characters only a regular expression uses (an old regular expression is refused,
# not read as a glob that means something else).
GLOB = r"^[^\x00-\x1f^$()|+\\{}]{1,200}$"
DEPLOY_PATTERN = "deploy"


def part(payload, *path) -> dict:
    value = payload
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def status_of(value) -> str:
    return s.FAILURE if str(value or "").lower() == "unauthorized" else s.outcome(value)


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def signals(delivery, payload) -> list[s.Signal]:
    """Finished workflows as builds; successful deploy workflows and jobs as the deployment of their pipeline."""
    kind = payload.get("type")
    project, workflow, pipeline = part(payload, "project"), part(payload, "workflow"), part(payload, "pipeline")
    sha = text(part(payload, "pipeline", "vcs").get("revision"))
    repository, service = text(project.get("slug")), text(project.get("name"))
    release = text(pipeline.get("id")) or sha or text(workflow.get("id"))  # one deployment per pipeline
    options = providers.endpoint_options(delivery)
    pattern, environment = options.get("deploy_pattern") or DEPLOY_PATTERN, options.get("environment") or s.PRODUCTION
    found = []
    if kind == "workflow-completed" and text(workflow.get("id")):
        status, name = status_of(text(workflow.get("status"))), text(workflow.get("name"))
        title, url = f"{service} {name}".strip(), text(workflow.get("url"))
        found.append(s.build(key=text(workflow["id"]), pipeline=name, status=status,
                             started_at=workflow.get("created_at"), finished_at=workflow.get("stopped_at"), sha=sha,
                             repository=repository, title=title, url=url))
        if status == s.SUCCESS and s.name_matches(pattern, name):
            found.append(s.deployment(key=release, service=service, environment=environment, status=status,
                                      sha=sha, started_at=workflow.get("created_at"),
                                      finished_at=workflow.get("stopped_at"), repository=repository, title=title,
                                      url=url))
    job = part(payload, "job")
    if kind == "job-completed" and text(job.get("id")) and status_of(text(job.get("status"))) == s.SUCCESS \
            and s.name_matches(pattern, text(job.get("name"))):
        found.append(s.deployment(key=release or text(job["id"]), service=service, environment=environment,
                                  status=s.SUCCESS, sha=sha, started_at=job.get("started_at"),
                                  finished_at=job.get("stopped_at"), repository=repository,
                                  title=f"{service} {text(job.get('name'))}".strip(), url=text(workflow.get("url"))))
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
            Option("deploy_pattern", "A glob, case-insensitive (* any text, ? one character, [abc] one of them): "
                                     "workflows and jobs whose name it matches are deployments when they "
                                     "succeed; without wildcards, those whose name contains it.",
                   default=DEPLOY_PATTERN, pattern=GLOB),
            Option("environment", "The environment the deploy workflows and jobs deploy to (letters, digits, "
                                  ". _ : / -).", default=s.PRODUCTION),
        ),
    ),
))
