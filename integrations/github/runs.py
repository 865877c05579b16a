"""Ask Emma from GitHub: a comment mentioning Emma, or a label added, starts an agent run whose answer
is posted back on the issue or pull request as a comment.

A GitHub delivery that matches a routing rule with action `agent_run` (integrations.services.event_receive),
when it came through the App's endpoint (/webhooks/github/app: signed with the App's own secret, its tenant
the one its `installation.id` is connected to) and its repository is one of that installation's (enabled)
repositories. A repository webhook's delivery (/webhooks/github?tenant=, signed with the deployment-wide
GITHUB_WEBHOOK_SECRET, its tenant named by the URL) starts no run: notify rules still act on it.

- `issue_comment` / `created`: only when the comment mentions GITHUB_MENTION (default "@emma", any case, as
  a whole word), was not written by a bot (sender or author of type "Bot", or a login ending "[bot]") and
  does not carry Emma's own marker (`<!-- emma:`): Emma's replies never start another run; and only when
  the comment's `author_association` is one of GITHUB_ASK_ASSOCIATIONS (default OWNER, MEMBER, COLLABORATOR):
  anyone else's comment (on a public repository, anyone at all) starts nothing.
- `issues` or `pull_request` / `labeled`: only when the rule's `match` names the label
  (`{"label.name": "emma"}`) and a person, not a bot, added it.

The run is an `agent.run` submitted as the rule's `run_as` member with the rule's tools (read-only GitHub
tools by default), instructions made of what was asked and where; its origin is a GitHubRequest row written
in the delivery's transaction. Its idempotency key is the rule's and the comment's (a label: the delivery's),
so a redelivery, a replay or the same comment arriving through a second hook starts nothing new.

When the run ends, emma's task-finished hook hands the reply to a task on the integrations queue, which
submits ONE `github.comment` task {repo, number, body} as the same member, keyed by the run
(`github:reply:<run id>`), so governance decides it like any other side effect (under `supervised` it
escalates and an approver reads the comment before it is posted); a sweep submits the replies whose
hook was lost. Posted: the answer of a run that
succeeded; a short note when it failed, was not approved (denied or rejected) or expired, never the error
itself (a comment may be public); nothing for a run someone cancelled in Emma."""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import observability, queueing
from core.errors import ApplicationError, error_text
from core.models import Membership
from emma.models import AgentTask
from emma.services import task_submit
from integrations.models import (GitHubInstallation, GitHubRequest, RoutingRule, WebhookDelivery,
                                 default_agent_tools)

logger = logging.getLogger(__name__)
Status = AgentTask.Status

AGENT_TASK = "agent.run"
COMMENT_TASK = "github.comment"
CHANNEL = "github"  # the channel the run and its reply are submitted on
MARKER = "<!-- emma:"  # every comment Emma posts carries it; a comment with it starts nothing
TEXT_MAX_CHARS = 8000  # of the comment or issue text that goes into the instructions
ANSWER_MAX_CHARS = 60000  # GitHub takes 65,536 characters in a comment
TITLE_MAX_CHARS = 300
BODY_MAX_CHARS = 200_000  # of a comment read whole for the marker and the mention (GitHub's hold 65,536)
MAX_NUMBER = 2**31 - 1  # GitHubRequest.number, a PositiveIntegerField
MAX_COMMENT_ID = 2**63 - 1  # GitHubRequest.comment_id, a BigIntegerField
LABEL_EVENTS = ("issues", "pull_request")
# Set by the App endpoint on the requests it verified (integrations.github.inbound.app_body), kept in the
# delivery's headers; the repository webhook endpoint (/webhooks/github?tenant=) keeps no such header.
APP_ENDPOINT_HEADER = "X-Emma-Endpoint"
APP_ENDPOINT = "github/app"
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class Ask:
    """What was asked on GitHub, and where the answer goes."""

    repo: str
    number: int
    kind: str  # "issue" or "pull request"
    title: str
    text: str
    requested_by: str
    url: str
    comment_id: int | None = None
    label: str = ""


# --- reading an event -----------------------------------------------------------------------------------


def mentions_emma(text: str) -> bool:
    """GITHUB_MENTION in the text, in any case, as a whole word ("@emma," yes; "@emmabot", "x@emma.io" no)."""
    mention = (settings.GITHUB_MENTION or "").strip()
    if not mention:
        return False
    pattern = r"(?<![\w@.+-])" + re.escape(mention) + r"(?![\w-]|\.\w)"
    return re.search(pattern, text or "", re.IGNORECASE) is not None


def _login(user) -> str:
    return _text(user.get("login")) if isinstance(user, dict) else ""


def is_bot(user) -> bool:
    """A GitHub App or bot account: type "Bot", or a login ending "[bot]"."""
    return isinstance(user, dict) and (user.get("type") == "Bot" or _login(user).lower().endswith("[bot]"))


def _dict(payload: dict, key: str) -> dict:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _text(value, limit: int = 255) -> str:
    """A string of the payload, cut to `limit`, without NUL characters (PostgreSQL stores none)."""
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _id(value, maximum: int) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= maximum else None


def _where(payload: dict, item: dict, kind: str) -> tuple[str, int] | str:
    """The repository and the issue's (or pull request's) number, or why there are none."""
    repo = _text(_dict(payload, "repository").get("full_name"))
    number = _id(item.get("number"), MAX_NUMBER)
    if not _REPO.match(repo) or number is None:
        return f"no repository or {kind} number in the event"
    return repo, number


def ask_from(*, event_type: str, payload: dict, rule: RoutingRule) -> Ask | str:
    """What an event asks Emma for under this rule, or why it asks nothing."""
    action = payload.get("action")
    sender = _dict(payload, "sender")
    if event_type == "issue_comment":
        if action != "created":
            return f"issue_comment {action}: only a new comment asks Emma"
        comment, issue = _dict(payload, "comment"), _dict(payload, "issue")
        body = _text(comment.get("body"), limit=BODY_MAX_CHARS)
        if is_bot(sender) or is_bot(comment.get("user")):
            return "a bot's comment"
        if MARKER in body:
            return "Emma's own comment"
        if not mentions_emma(body):
            return f"the comment does not mention {settings.GITHUB_MENTION}"
        association = _text(comment.get("author_association"), 50).upper()
        allowed = {str(name).strip().upper() for name in settings.GITHUB_ASK_ASSOCIATIONS or []}
        if association not in allowed:
            return (f"the comment's author ({_login(comment.get('user')) or 'unknown'}, author_association "
                    f"{association or 'missing'}) is not one of GITHUB_ASK_ASSOCIATIONS ({', '.join(sorted(allowed))})")
        kind = "pull request" if "pull_request" in issue else "issue"
        where = _where(payload, issue, kind)
        if isinstance(where, str):
            return where
        return Ask(repo=where[0], number=where[1], kind=kind, title=_text(issue.get("title"), TITLE_MAX_CHARS),
                   text=body, requested_by=_login(sender) or _login(comment.get("user")),
                   url=_text(comment.get("html_url"), 500) or _text(issue.get("html_url"), 500),
                   comment_id=_id(comment.get("id"), MAX_COMMENT_ID))
    if event_type in LABEL_EVENTS:
        if action != "labeled":
            return f"{event_type} {action}: only an added label asks Emma"
        if "label.name" not in (rule.match or {}):
            return "the rule names no label (match {\"label.name\": ...})"
        if is_bot(sender):
            return "a label added by a bot"
        kind = "issue" if event_type == "issues" else "pull request"
        item = _dict(payload, "issue" if event_type == "issues" else "pull_request")
        where = _where(payload, item, kind)
        if isinstance(where, str):
            return where
        return Ask(repo=where[0], number=where[1], kind=kind, title=_text(item.get("title"), TITLE_MAX_CHARS),
                   text=_text(item.get("body"), limit=BODY_MAX_CHARS), requested_by=_login(sender),
                   url=_text(item.get("html_url"), 500), label=_text(_dict(payload, "label").get("name")))
    return f"{event_type or 'this event'}: an agent run starts from a comment or a label"


def instructions_for(ask: Ask) -> str:
    """The run's instructions: what was asked, then where, by whom, and where the answer goes."""
    who = f"@{ask.requested_by}" if ask.requested_by else "Someone"
    title = f" “{ask.title}”" if ask.title else ""
    text = ask.text.strip()[:TEXT_MAX_CHARS]
    if ask.label:
        opening = (f"{who} added the label “{ask.label}” to {ask.kind} #{ask.number}{title} in {ask.repo}, "
                   f"asking for your help with it. Its description:\n\n{text or '(none)'}")
    else:
        opening = f"{who} asked you in a comment on {ask.kind} #{ask.number}{title} in {ask.repo}:\n\n{text}"
    context = [f"Repository: {ask.repo}", f"{ask.kind.capitalize()} #{ask.number}: {ask.title or '(no title)'}",
               f"Asked by: {who}"]
    if ask.url:
        context.append(f"Link: {ask.url}")
    return (f"{opening}\n\n---\n" + "\n".join(context) +
            f"\n\nYour final answer is posted as a comment on {ask.repo}#{ask.number}: write it for the people "
            "there, in GitHub Markdown.")


def _installation_reaches(*, delivery: WebhookDelivery, payload: dict, repo: str) -> bool:
    """The delivery's installation (`installation.id`) is an enabled one of the delivery's tenant, and
    reaches `repo`."""
    installation_id = _id(_dict(payload, "installation").get("id"), MAX_COMMENT_ID)
    if installation_id is None or delivery.tenant_id is None:
        return False
    repositories = (GitHubInstallation.objects
                    .filter(installation_id=installation_id, tenant_id=delivery.tenant_id, disabled_at__isnull=True)
                    .values_list("repositories", flat=True).first())
    return repo.lower() in {str(name).lower() for name in repositories or []}


def _acting(user, tenant_id: int):
    """The user acting in this tenant (their membership there), or None when they are no longer a member."""
    membership = Membership.objects.filter(user_id=user.pk, tenant_id=tenant_id).select_related("tenant").first()
    if membership is None or not user.is_active:
        return None
    user.membership = membership
    return user


# --- starting a run -----------------------------------------------------------------------------------------


def run_start(*, delivery: WebhookDelivery, rule: RoutingRule, event_type: str, payload: dict) -> str:
    """Start the rule's agent run for what the event asks (in the caller's transaction, the delivery's):
    "processed", or "ignored: <why>" when it asks nothing. The submission and its GitHubRequest commit
    together; a refusal (an unknown tool, a Conflict) raises the domain error and leaves nothing."""
    if (delivery.headers or {}).get(APP_ENDPOINT_HEADER) != APP_ENDPOINT:
        return ("ignored: an agent run starts only from a delivery of Emma's GitHub App (/webhooks/github/app), "
                "never from a repository webhook (/webhooks/github)")
    ask = ask_from(event_type=event_type, payload=payload, rule=rule)
    if isinstance(ask, str):
        return f"ignored: {ask}"
    if not _installation_reaches(delivery=delivery, payload=payload, repo=ask.repo):
        return (f"ignored: {ask.repo} is not a repository of the enabled GitHub installation the delivery "
                "came from")
    user = _acting(rule.run_as, rule.tenant_id)
    if user is None:
        return f"ignored: rule {rule.pk} runs as someone who is no longer an active member of the tenant"
    occasion = f"comment:{ask.comment_id}" if ask.comment_id is not None else f"delivery:{delivery.dedup_key}"
    what = ask.text.strip().splitlines()[0] if ask.text.strip() else ask.title
    with transaction.atomic():
        result = task_submit(
            user=user, task_type=AGENT_TASK,
            description=f"GitHub {ask.repo}#{ask.number} ({rule.name}): {what}"[:10000],
            parameters={"instructions": instructions_for(ask), "tools": list(rule.tools or default_agent_tools())},
            idempotency_key=f"github:run:{rule.pk}:{occasion}"[:255], channel=CHANNEL,
            correlation_id=observability.get_correlation_id() or "")
        GitHubRequest.objects.get_or_create(task_id=result.task.pk, defaults={
            "tenant_id": result.task.tenant_id, "rule": rule, "repo": ask.repo, "number": ask.number,
            "comment_id": ask.comment_id, "delivery_id": delivery.dedup_key[:255],
            "requested_by": ask.requested_by[:255], "url": ask.url[:500]})
    return "processed"


# --- answering ------------------------------------------------------------------------------------------------


def reply_text(task: AgentTask) -> str | None:
    """What is posted when the run ended, or None (a run someone cancelled in Emma: nothing to say)."""
    if task.status == Status.SUCCEEDED:
        answer = (task.result or {}).get("answer") if isinstance(task.result, dict) else None
        answer = str(answer).strip() if answer else ""
        return answer[:ANSWER_MAX_CHARS] if answer else "Done (I have no answer to add)."
    if task.status == Status.FAILED:
        return f"Sorry, I could not finish this: the run failed. Your Emma team can see why (task {task.pk})."
    if task.status == Status.REJECTED:
        return "This request was not approved in Emma, so I did not work on it."
    if task.status == Status.EXPIRED:
        return "This request was not approved in time, so I did not work on it."
    return None


def reply_body(task: AgentTask) -> str | None:
    """The comment: the reply and Emma's marker (so the reply never asks Emma again)."""
    text = reply_text(task)
    return None if text is None else f"{text}\n\n{MARKER}reply {task.pk} -->"


@transaction.atomic
def github_reply_submit(*, task_id) -> AgentTask | None:
    """Submit the one `github.comment` task that answers a finished run asked for on GitHub, as the run's
    submitter, keyed by the run: governance decides it like any side effect. Once per run (the request row is
    locked, and the reply's task id recorded on it): a second call, a retry or a redelivered message submits
    nothing new. None when there is nothing to post (no such request, not finished, cancelled, the submitter
    gone, or the submission refused)."""
    request = GitHubRequest.objects.select_for_update().filter(task_id=task_id).first()
    if request is None or request.reply_task_id is not None:
        return None
    task = (AgentTask.objects.select_related("submitter")
            .filter(pk=task_id, tenant_id=request.tenant_id, status__in=AgentTask.FINAL_STATUSES).first())
    body = task and reply_body(task)
    if not body:
        return None
    user = _acting(task.submitter, task.tenant_id)
    if user is None:
        logger.warning("GitHub run %s ended, but its submitter is no longer a member: no reply", task.pk)
        return None
    try:
        result = task_submit(
            user=user, task_type=COMMENT_TASK,
            description=f"Emma's reply on GitHub {request.repo}#{request.number}:\n\n{body}"[:10000],
            parameters={"repo": request.repo, "number": request.number, "body": body},
            idempotency_key=f"github:reply:{task.pk}", channel=CHANNEL, correlation_id=task.correlation_id)
    except ApplicationError as exc:
        logger.warning("the reply to GitHub run %s was refused: %s", task.pk, error_text(exc))
        return None
    GitHubRequest.objects.filter(pk=request.pk).update(reply_task_id=result.task.pk)
    return result.task


def github_replies_submit_missed(*, older_than: timedelta = timedelta(seconds=60),
                                 within: timedelta = timedelta(hours=1), limit: int = 100) -> int:
    """Runs asked for on GitHub that ended more than `older_than` (and less than `within`) ago and have no
    reply yet: the hook's message was lost (the broker was down). Their reply is submitted now, by the hook's
    own code, so still once. How many were."""
    now = timezone.now()
    ended = AgentTask.objects.filter(status__in=[status for status in AgentTask.FINAL_STATUSES
                                                 if status != Status.CANCELLED],
                                     finished_at__lte=now - older_than, finished_at__gte=now - within)
    task_ids = list(GitHubRequest.objects.filter(reply_task_id__isnull=True, task_id__in=ended.values("pk"))
                    .order_by("created_at").values_list("task_id", flat=True)[:limit])
    return sum(github_reply_submit(task_id=task_id) is not None for task_id in task_ids)


# --- hooks (registered in IntegrationsConfig.ready) -------------------------------------------------------------


def on_task_finished(*, task) -> None:
    """Emma's hook, after commit: a run asked for on GitHub is answered by a task on the integrations queue.
    Only an agent run submitted on the github channel can have been."""
    from integrations.tasks import reply_on_github

    if (task.task_type == AGENT_TASK and task.channel == CHANNEL
            and GitHubRequest.objects.filter(task_id=task.pk, reply_task_id__isnull=True).exists()):
        queueing.publish(reply_on_github, str(task.pk))
