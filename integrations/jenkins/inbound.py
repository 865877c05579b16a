"""Jenkins builds, from the Notification plugin (https://plugins.jenkins.io/notification/, format JSON,
protocol HTTP), on a tenant's registered endpoint. The plugin posts the job once per phase (QUEUED, STARTED,
COMPLETED, FINALIZED):

    {"name": "shop-deploy", "display_name": "shop-deploy", "url": "job/shop-deploy/",
     "build": {"full_url": "https://ci.example.com/job/shop-deploy/42/", "number": 42, "queue_id": 7,
               "phase": "COMPLETED", "status": "SUCCESS", "url": "job/shop-deploy/42/",
               "timestamp": 1793523600000, "duration": 95000,
               "scm": {"url": "https://github.com/acme/shop.git", "branch": "origin/main", "commit": "<sha>"}}}

`timestamp` is when the phase happened, in milliseconds (STARTED: the build's start; COMPLETED: start +
duration; FINALIZED: after post-build steps); `duration` is in milliseconds. Older plugin versions send the
timestamp as ISO text; both are read.

Dedup key: name + build number + phase; event type: the phase, lower-cased. Each build is one build row (keyed
by job name and number): in progress once STARTED, then its status from build.status on COMPLETED and
FINALIZED (SUCCESS: success; FAILURE and UNSTABLE: failure; ABORTED: cancelled). A job whose name matches the
endpoint's Option "deploy_job_pattern" (a shell-style glob, case-insensitive: `*-deploy`, `deploy-?`; one
without wildcards is looked for anywhere in the name; default `deploy`) is also a deployment, of the Option "service" (default: the job's name) to the Option "environment" (default
production), at the commit it built."""

from datetime import timedelta

from integrations import providers
from integrations import signals as s
from integrations.jenkins import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import Unusable, json_body

# A glob: printable, without the characters only a regular expression uses (an old regular expression is refused,
# not read as a glob that means something else).
GLOB = r"^[^\x00-\x1f^$()|+\\{}]{1,200}$"
DEPLOY_JOB_PATTERN = "deploy"
FINISHED_PHASES = ("COMPLETED", "FINALIZED")


def build_of(payload) -> dict:
    build = payload.get("build") if isinstance(payload, dict) else None
    return build if isinstance(build, dict) else {}


def dedup_key(request, payload) -> str:
    build = build_of(payload)
    name, number, phase = payload.get("name"), build.get("number"), build.get("phase")
    if not name or number in (None, "") or not phase:
        raise Unusable("name, build.number and build.phase are required.")
    return f"{name}#{number}:{phase}"[:255]


def event_type(request, payload) -> str:
    return str(build_of(payload).get("phase") or "").lower()[:100]


def seconds(milliseconds) -> float | None:
    """A duration in milliseconds as seconds; None for nothing, zero, or what is not a number a float can hold."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, (int, float)) or not milliseconds:
        return None
    try:
        return milliseconds / 1000
    except OverflowError:
        return None


def before(at, duration: float | None):
    """When a build that ended at `at` after `duration` seconds began (None when either is missing or absurd)."""
    if not at or not duration:
        return None
    try:
        return at - timedelta(seconds=duration)
    except (OverflowError, ValueError):
        return None


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def signals(delivery, payload) -> list[s.Signal]:
    """The build, and the deployment when the job deploys. Any JSON is read without error: a field of the wrong
    type is as if missing."""
    build, name = build_of(payload), text(payload.get("name"))
    phase, number = text(build.get("phase")).upper(), text(build.get("number"))
    if not name or not number or phase not in ("STARTED", *FINISHED_PHASES):
        return []
    finished = phase in FINISHED_PHASES
    status = s.outcome(text(build.get("status"))) if finished and text(build.get("status")) else s.IN_PROGRESS
    at = s.when(build.get("timestamp"))
    duration = seconds(build.get("duration")) if finished else None
    started = at if phase == "STARTED" else before(at, duration)
    finished_at = at if finished else None
    scm = build.get("scm") if isinstance(build.get("scm"), dict) else {}
    sha, repository = text(scm.get("commit")), text(scm.get("url"))
    key, url = f"{name}#{number}", text(build.get("full_url"))
    title = f"{name} #{number}"
    found = [s.build(key=key, pipeline=name, status=status, duration_seconds=duration, started_at=started,
                     finished_at=finished_at, sha=sha, repository=repository, title=title, url=url)]
    options = providers.endpoint_options(delivery)
    if s.name_matches(options.get("deploy_job_pattern") or DEPLOY_JOB_PATTERN, name):
        found.append(s.deployment(key=key, service=options.get("service") or name,
                                  environment=options.get("environment") or s.PRODUCTION, status=status, sha=sha,
                                  started_at=started, finished_at=finished_at, repository=repository,
                                  title=title, url=url))
    return found


JENKINS = providers.register(WebhookProvider(
    name="jenkins",
    title="Jenkins",
    switch="jenkins",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=dedup_key, event_type=event_type),
        describe=verify.describe,
        signs=False,
        options=(
            Option("deploy_job_pattern", "A glob, case-insensitive (* any text, ? one character, [abc] one of "
                                         "them): jobs whose name it matches are deployments; without wildcards, "
                                         "jobs whose name contains it.",
                   default=DEPLOY_JOB_PATTERN, pattern=GLOB),
            Option("environment", "The environment the deploy jobs deploy to (letters, digits, . _ : / -).",
                   default=s.PRODUCTION),
            Option("service", "The service the deploy jobs deploy (empty: the job's name)."),
        ),
    ),
))
