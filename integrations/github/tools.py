"""The GitHub tools, governed like every tool (emma.registry), registered when imported (IntegrationsConfig.ready).

Each acts as the tenant's GitHub installation that reaches the repository named (client.installation_for_repo):
a repository outside the tenant's installations, or one whose installation is disabled, is refused.
A run that a GitHub request started (a GitHubRequest with the run's task id) may name only the repository it
was asked on: any other is refused (Forbidden), so a comment cannot send Emma to the tenant's other
repositories. `github.search_code` refuses a query that carries its own repo:, org: or user: qualifier.

- Reading (`github.get_issue`, `github.get_file`, `github.search_code`): low risk, nothing leaves Emma but
  the question, so no external side effect. Tools only.
- Writing (`github.comment`, `github.create_issue`, `github.add_label`): medium risk with external side
  effects, like `message.send`: visible to everyone who can see the repository, but reversible (a comment
  is deleted, an issue closed, a label removed), so not high. Tools and task types (a routing rule may
  submit `github.comment`). Sent once across worker retries: a comment or an issue carries the hidden
  marker `<!-- emma:<task or tool call> -->`, and a retry first looks for it among the recent comments or
  issues; adding a label twice changes nothing.

None is offered while the GitHub App is not configured (client.unavailable_reason)."""

from core.errors import Forbidden
from emma.registry import RetryableError, task_type
from integrations.github import client
from integrations.models import GitHubRequest

REPO = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
        "description": "owner/name"}
NUMBER = {"type": "integer", "minimum": 1, "maximum": 2_147_483_647}
LABELS = {"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": True,
          "items": {"type": "string", "minLength": 1, "maxLength": 50}}
BODY = {"type": "string", "minLength": 1, "maxLength": 60_000}


def _unavailable() -> str | None:
    return client.unavailable_reason()


def _asked_on(ctx) -> str | None:
    """The repository a GitHub request asked this run on (its GitHubRequest), or None: a run started in Emma
    (or a task) is not held to one repository."""
    task_id = getattr(ctx, "task_id", None)
    if not task_id:
        return None
    return GitHubRequest.objects.filter(task_id=task_id).values_list("repo", flat=True).first()


def _call(ctx, repo: str, operation):
    """Run `operation(github)` as the installation reaching `repo`; GitHub's passing failures are retried.
    A run asked for on GitHub may use GitHub on the repository it was asked on only (Forbidden otherwise):
    whoever wrote the comment must not steer Emma to the tenant's other repositories."""
    asked_on = _asked_on(ctx)
    if asked_on is not None and repo.strip().lower() != asked_on.lower():
        raise Forbidden(f"This run was asked on {asked_on}; it may use GitHub there only.")
    try:
        return client.as_installation(tenant_id=ctx.tenant_id, repo=repo, call=operation)
    except client.GitHubFailure as exc:
        if exc.retryable:
            raise RetryableError(str(exc)) from None
        raise RuntimeError(str(exc)) from None


@task_type("github.get_issue", risk="low", tool=True, task=False, time_limit=60, unavailable=_unavailable,
           headline=lambda a: f"read issue {a['repo']}#{a['number']} on GitHub",
           description="Reads issue (or pull request) `number` of `repo`: title, state, body, labels and the "
                       "last comments.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "number"],
                   "properties": {"repo": REPO, "number": NUMBER}})
def get_issue(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.issue_read(
        github, repo=arguments["repo"], number=arguments["number"]))


@task_type("github.get_file", risk="low", tool=True, task=False, time_limit=60, unavailable=_unavailable,
           headline=lambda a: f"read {a['path']} in {a['repo']} on GitHub",
           description=f"Reads the text of file `path` in `repo` (at `ref`, a branch, tag or commit; default: the "
                       f"default branch), truncated at {client.FILE_MAX_CHARS} characters.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "path"],
                   "properties": {"repo": REPO, "path": {"type": "string", "minLength": 1, "maxLength": 1000},
                                  "ref": {"type": "string", "minLength": 1, "maxLength": 255}}})
def get_file(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.file_read(
        github, repo=arguments["repo"], path=arguments["path"].lstrip("/"), ref=arguments.get("ref")))


@task_type("github.search_code", risk="low", tool=True, task=False, time_limit=60, unavailable=_unavailable,
           headline=lambda a: f"search the code of {a['repo']} for “{a['query']}”",
           description="Searches the code of `repo` for `query`: the paths that match, with snippets.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "query"],
                   "properties": {"repo": REPO, "query": {"type": "string", "minLength": 1, "maxLength": 256}}})
def search_code(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.code_search(
        github, repo=arguments["repo"], query=arguments["query"]))


def _posted(result: dict) -> dict:
    return {key: result[key] for key in ("url", "already_posted") if key in result}


@task_type("github.comment", risk="medium", external_side_effects=True, tool=True, task=True, time_limit=60,
           max_attempts=3, unavailable=_unavailable, receipt=_posted,
           headline=lambda a: f"post this comment on {a['repo']}#{a['number']}",
           description="Posts `body` as a comment on issue or pull request `number` of `repo`. An external side "
                       "effect; never posted twice for one task or tool call.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "number", "body"],
                   "properties": {"repo": REPO, "number": NUMBER, "body": BODY}})
def comment(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.comment_post(
        github, repo=arguments["repo"], number=arguments["number"], body=arguments["body"],
        key=ctx.idempotency_key))


@task_type("github.create_issue", risk="medium", external_side_effects=True, tool=True, task=True, time_limit=60,
           max_attempts=3, unavailable=_unavailable, receipt=_posted,
           headline=lambda a: f"open an issue “{a['title']}” in {a['repo']}",
           description="Opens an issue in `repo` with `title`, `body` and optionally `labels`. An external side "
                       "effect; never opened twice for one task or tool call.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "title", "body"],
                   "properties": {"repo": REPO, "title": {"type": "string", "minLength": 1, "maxLength": 256},
                                  "body": BODY, "labels": LABELS}})
def create_issue(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.issue_create(
        github, repo=arguments["repo"], title=arguments["title"], body=arguments["body"],
        labels=arguments.get("labels") or [], key=ctx.idempotency_key))


@task_type("github.add_label", risk="medium", external_side_effects=True, tool=True, task=True, time_limit=60,
           max_attempts=3, unavailable=_unavailable,
           headline=lambda a: f"add the labels {', '.join(a['labels'])} to {a['repo']}#{a['number']}",
           description="Adds `labels` to issue or pull request `number` of `repo`.",
           schema={"type": "object", "additionalProperties": False, "required": ["repo", "number", "labels"],
                   "properties": {"repo": REPO, "number": NUMBER, "labels": LABELS}})
def add_label(ctx, arguments):
    return _call(ctx, arguments["repo"], lambda github: client.labels_add(
        github, repo=arguments["repo"], number=arguments["number"], labels=arguments["labels"]))
