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
endpoint's Option "deploy_job_pattern" (a regular expression, searched case-insensitively; default `deploy`) is
also a deployment, of the Option "service" (default: the job's name) to the Option "environment" (default
production), at the commit it built."""

import logging
import re
from datetime import timedelta

from integrations import providers
from integrations import signals as s
from integrations.jenkins import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import Unusable, json_body

logger = logging.getLogger(__name__)

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


def matches(pattern: str, name: str) -> bool:
    """`pattern` searched in `name`, case-insensitively; a pattern that is not a valid regular expression is
    searched for as plain text (the endpoint keeps working; the log says why)."""
    try:
        return re.search(pattern, name, re.IGNORECASE) is not None
    except re.error:
        logger.warning("deploy job pattern %r is not a regular expression: matched as text", pattern)
        return pattern.lower() in name.lower()


def signals(delivery, payload) -> list[s.Signal]:
    """The build, and the deployment when the job deploys."""
    build, name = build_of(payload), str(payload.get("name") or "")
    phase = str(build.get("phase") or "").upper()
    if not name or build.get("number") in (None, "") or phase not in ("STARTED", *FINISHED_PHASES):
        return []
    finished = phase in FINISHED_PHASES
    status = s.outcome(build.get("status")) if finished and build.get("status") else s.IN_PROGRESS
    at = s.when(build.get("timestamp"))
    duration_ms = build.get("duration") if isinstance(build.get("duration"), (int, float)) else None
    duration = duration_ms / 1000 if finished and duration_ms else None
    started = at if phase == "STARTED" else (at - timedelta(seconds=duration) if at and duration else None)
    finished_at = at if finished else None
    scm = build.get("scm") if isinstance(build.get("scm"), dict) else {}
    sha, repository = str(scm.get("commit") or ""), str(scm.get("url") or "")
    key, url = f"{name}#{build['number']}", str(build.get("full_url") or "")
    title = f"{name} #{build['number']}"
    found = [s.build(key=key, pipeline=name, status=status, duration_seconds=duration, started_at=started,
                     finished_at=finished_at, sha=sha, repository=repository, title=title, url=url)]
    options = providers.endpoint_options(delivery)
    if matches(options.get("deploy_job_pattern") or DEPLOY_JOB_PATTERN, name):
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
            Option("deploy_job_pattern", "A regular expression: jobs whose name it matches are deployments.",
                   default=DEPLOY_JOB_PATTERN, pattern=r"^[^\x00-\x1f]{1,200}$"),
            Option("environment", "The environment the deploy jobs deploy to (letters, digits, . _ : / -).",
                   default=s.PRODUCTION),
            Option("service", "The service the deploy jobs deploy (empty: the job's name)."),
        ),
    ),
))
