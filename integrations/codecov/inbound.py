"""Codecov coverage notifications at a tenant's registered endpoint, /webhooks/codecov/<endpoint id>[/<secret>]:
the body is Codecov's webhook payload (its worker's services/notification/notifiers/webhook.py): repo {name, url},
owner {username, service}, head {commitid, branch, timestamp, url, totals {coverage, ...}}, base, compare
{message: increased / decreased / no change / unknown, coverage, notation}, pull.

Dedup key: the body's hash. Event type: "coverage".
Engineering events: a quality gate on the head commit, keyed by repository and commit id (a later notification
on the same commit updates it), project owner/repo. Its status: the payload's `state` if one is sent; else, when
the endpoint's `min_coverage` option is set, success when the head's coverage is at least that; else failure when
coverage decreased against the base (what Codecov's default `target: auto` status fails on), success otherwise."""

from decimal import Decimal, InvalidOperation

from integrations import providers
from integrations import signals as s
from integrations.codecov import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import body_hash, json_body


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def coverage_of(head: dict) -> Decimal | None:
    totals = head.get("totals") if isinstance(head.get("totals"), dict) else {}
    try:
        return Decimal(str(totals.get("coverage")))
    except (InvalidOperation, ValueError):
        return None


def gate_status(payload: dict, head: dict, min_coverage: str) -> str:
    if text(payload.get("state")):
        return s.outcome(text(payload["state"]))
    coverage = coverage_of(head)
    if min_coverage and coverage is not None:
        return s.SUCCESS if coverage >= Decimal(min_coverage) else s.FAILURE
    return s.FAILURE if obj(payload.get("compare")).get("message") == "decreased" else s.SUCCESS


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """The head commit's coverage as a quality gate. Any JSON is read without error: a field of the wrong type is
    as if missing."""
    head, repo, owner = obj(payload.get("head")), obj(payload.get("repo")), obj(payload.get("owner"))
    sha, name, username = text(head.get("commitid")), text(repo.get("name")), text(owner.get("username"))
    if not sha or not name:
        return []
    project = f"{username}/{name}" if username else name
    options = providers.endpoint_options(delivery)
    coverage = coverage_of(head)
    condition = {"metric": "coverage", "value": str(coverage) if coverage is not None else "",
                 "errorThreshold": options.get("min_coverage", ""),
                 "compare": text(obj(payload.get("compare")).get("message"))}
    return [s.quality_gate(key=f"{project}@{sha}", project=project,
                           status=gate_status(payload, head, options.get("min_coverage", "")), at=head.get("timestamp"),
                           sha=sha, branch=text(head.get("branch")),
                           conditions=[{k: v for k, v in condition.items() if v}], url=text(head.get("url")))]


CODECOV = providers.register(WebhookProvider(
    name="codecov",
    title="Codecov",
    switch="codecov",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=body_hash,
                      event_type=lambda request, payload: "coverage"),
        describe=lambda options: f"the secret at the end of the URL, or in header "
                                 f"{options.get('header') or verify.DEFAULT_HEADER}",
        signs=False,
        options=(Option("header", "The header that carries the secret, where one can be added.",
                        default=verify.DEFAULT_HEADER),
                 Option("min_coverage", "The coverage (percent) a commit needs to pass, e.g. 80; empty: pass "
                                        "unless coverage decreased.", pattern=r"^\d{1,3}(\.\d{1,4})?$"))),
))
