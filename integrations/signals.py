"""Engineering events: what a tool's delivery says about delivering software, in Emma's own terms.

A provider's `signals(delivery, payload)` (integrations.providers.WebhookProvider) answers a list of these;
processing stores each one in its table (integrations.dora.services.signals_store), where the DORA metrics read
them. `key` is the provider's id of the thing, stable across deliveries: a later delivery about the same
deployment or incident (a status change, a resolution) updates the row, and fields a delivery leaves empty keep
what an earlier one said.

    change        a commit on its way to production: sha, repository, authored and committed times, pull request
                  and merge time; `push` groups the commits that arrived together (Four Keys' deployment changes)
    deployment    service, environment, head sha and the shas it shipped, status, started and finished
    incident      service, opened, acknowledged, resolved, severity; the root-cause sha or deployment it names
    build         pipeline, status, duration, sha
    alert         a monitor firing or recovering
    issue         a ticket created, moved or closed
    quality_gate  a code-quality verdict on a commit or branch"""

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

CHANGE, DEPLOYMENT, INCIDENT, BUILD = "change", "deployment", "incident", "build"
ALERT, ISSUE, QUALITY_GATE = "alert", "issue", "quality_gate"
KINDS = (CHANGE, DEPLOYMENT, INCIDENT, BUILD, ALERT, ISSUE, QUALITY_GATE)

# Deployment, build and gate outcomes, as every provider's words are mapped to them.
SUCCESS, FAILURE, IN_PROGRESS, CANCELLED = "success", "failure", "in_progress", "cancelled"
PRODUCTION = "production"


@dataclass(frozen=True)
class Signal:
    kind: str  # one of KINDS
    key: str  # the provider's id of the thing (a deployment id, a commit sha, an incident id)
    title: str = ""
    url: str = ""
    service: str = ""
    environment: str = ""
    status: str = ""
    at: datetime | None = None  # when it happened (a deployment's finish, an incident's opening)
    data: dict[str, Any] = field(default_factory=dict)  # the kind's own fields (see the constructors)
    # When the state this signal reports held (the latest time it names): a delivery older than what its row
    # last took (a replay, a late retry) does not take the row back.
    observed_at: datetime | None = None

    def __post_init__(self):
        for name in ("key", "title", "url", "service", "environment", "status"):
            object.__setattr__(self, name, text(getattr(self, name)))


def text(value, limit: int = 1000) -> str:
    """A payload's value as text: None is empty, anything else str()-ed, cut to `limit`."""
    return "" if value is None else str(value)[:limit]


def _clean(data: dict) -> dict:
    return {name: value for name, value in data.items() if value not in (None, "", [], ())}


def _latest(*moments) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)


def change(*, sha: str, repository: str, committed_at=None, authored_at=None, title: str = "", url: str = "",
           pull_request: str = "", merged_at=None, push: str = "", author: str = "") -> Signal:
    return Signal(CHANGE, key=text(sha), title=text(title, 300), url=url, at=when(committed_at), data=_clean({
        "repository": text(repository, 200), "authored_at": when(authored_at), "committed_at": when(committed_at),
        "pull_request": text(pull_request), "merged_at": when(merged_at), "push": text(push), "author": text(author)}))


def deployment(*, key: str, service: str, environment: str = PRODUCTION, status: str, sha: str = "",
               shas=(), started_at=None, finished_at=None, repository: str = "", title: str = "",
               url: str = "") -> Signal:
    finished, started = when(finished_at), when(started_at)
    sha = text(sha, 64)
    return Signal(DEPLOYMENT, key=key, title=text(title, 300), url=url, service=service,
                  environment=environment_name(environment), status=status, at=finished or started,
                  observed_at=_latest(started, finished),
                  data=_clean({"sha": sha, "shas": [s for s in dict.fromkeys([sha, *map(text, shas)]) if s],
                               "started_at": started, "finished_at": finished, "repository": text(repository)}))


def incident(*, key: str, service: str, opened_at=None, acknowledged_at=None, resolved_at=None, severity: str = "",
             status: str = "", title: str = "", url: str = "", root_cause_sha: str = "", deployment_key: str = "",
             environment: str = PRODUCTION, observed_at=None) -> Signal:
    """`observed_at`: when the provider says this state held (PagerDuty's occurred_at); else the latest time
    the incident names."""
    opened, acknowledged, resolved = when(opened_at), when(acknowledged_at), when(resolved_at)
    return Signal(INCIDENT, key=key, title=text(title, 300), url=url, service=service,
                  environment=environment_name(environment), status=status, at=opened,
                  observed_at=when(observed_at) or _latest(opened, acknowledged, resolved), data=_clean({
                      "opened_at": opened, "acknowledged_at": acknowledged, "resolved_at": resolved,
                      "severity": text(severity), "root_cause_sha": text(root_cause_sha),
                      "deployment_key": text(deployment_key)}))


def build(*, key: str, pipeline: str, status: str, duration_seconds: float | None = None, started_at=None,
          finished_at=None, sha: str = "", repository: str = "", title: str = "", url: str = "") -> Signal:
    started, finished = when(started_at), when(finished_at)
    if duration_seconds is None and started and finished:
        duration_seconds = (finished - started).total_seconds()
    try:
        duration_seconds = None if duration_seconds is None else float(duration_seconds)
    except (TypeError, ValueError, OverflowError):
        duration_seconds = None
    if duration_seconds is not None and not 0 <= duration_seconds < 1e9:
        duration_seconds = None
    return Signal(BUILD, key=key, title=text(title, 300), url=url, status=status, at=finished or started,
                  observed_at=_latest(started, finished), data=_clean({
                      "pipeline": text(pipeline), "duration_seconds": duration_seconds, "started_at": started,
                      "finished_at": finished, "sha": text(sha), "repository": text(repository)}))


def alert(*, key: str, title: str, status: str, at=None, service: str = "", severity: str = "",
          url: str = "") -> Signal:
    return Signal(ALERT, key=key, title=text(title, 300), url=url, service=service, status=status, at=when(at),
                  observed_at=when(at), data=_clean({"severity": text(severity)}))


def issue(*, key: str, title: str, status: str, at=None, project: str = "", kind: str = "", assignee: str = "",
          url: str = "") -> Signal:
    return Signal(ISSUE, key=key, title=text(title, 300), url=url, status=status, at=when(at), observed_at=when(at),
                  data=_clean({"project": text(project), "type": text(kind), "assignee": text(assignee)}))


def quality_gate(*, key: str, project: str, status: str, at=None, sha: str = "", branch: str = "",
                 conditions: list | None = None, url: str = "") -> Signal:
    return Signal(QUALITY_GATE, key=key, title=f"{text(project)}: {text(status)}"[:300], url=url, service=project,
                  status=status, at=when(at), observed_at=when(at),
                  data=_clean({"sha": text(sha), "branch": text(branch),
                               "conditions": conditions if isinstance(conditions, list) else []}))


# --- reading what providers send -------------------------------------------------------------------


def when(value) -> datetime | None:
    """A time from a payload: a datetime, ISO 8601 text (with Z or an offset; a naive one is UTC), or Unix
    seconds or milliseconds as a number or digits. Anything else is None, never an error."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if number > 1e11:  # milliseconds
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" UTC", "Z")
    try:
        parsed = parse_datetime(text.replace("Z", "+00:00")) if "T" in text or " " in text else None
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


ENVIRONMENT_NAMES = {"prod": PRODUCTION, "production": PRODUCTION, "prd": PRODUCTION, "live": PRODUCTION}


def environment_name(value) -> str:
    """`prod`, `Production`, `PRD` and `live` are all `production`; other names lower-cased as given."""
    text = str(value or "").strip().lower()
    return ENVIRONMENT_NAMES.get(text, text)[:100]


def outcome(value, *, success=("success", "succeeded", "successful", "passed", "ok", "healthy", "synced",
                               "completed", "fixed", "deployed"),
            failure=("failure", "failed", "error", "errored", "broken", "degraded", "timed_out", "timedout",
                     "infrastructure_fail", "unstable", "aborted_with_errors"),
            running=("pending", "queued", "running", "in_progress", "started", "created", "progressing", "waiting",
                     "on_hold", "building", "not_run"),
            cancelled=("cancelled", "canceled", "aborted", "skipped", "stopped")) -> str:
    """A provider's word for how something went, as one of SUCCESS, FAILURE, IN_PROGRESS, CANCELLED (else as
    given, lower-cased)."""
    text = str(value or "").strip().lower().replace(" ", "_").replace("-", "_")
    for name, words in ((SUCCESS, success), (FAILURE, failure), (IN_PROGRESS, running), (CANCELLED, cancelled)):
        if text in words:
            return name
    return text[:32]


def name_matches(pattern: str, name: str) -> bool:
    """Whether `name` (a job, a workflow) matches a tenant's `pattern`: a shell-style glob (* ? [seq]) matching the
    whole name, case-insensitively; a pattern without wildcards matches a name that contains it (`deploy`:
    build-and-deploy). A glob, not a regular expression: a tenant's pattern runs on the shared worker and must not
    be able to stall it (fnmatch's translation has no catastrophic backtracking)."""
    pattern, name = pattern.lower(), name.lower()
    if not any(wildcard in pattern for wildcard in "*?["):
        return pattern in name
    return fnmatch.fnmatchcase(name, pattern)
