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


def coverage_of(head: dict) -> Decimal | None:
    totals = head.get("totals") if isinstance(head.get("totals"), dict) else {}
    try:
        return Decimal(str(totals.get("coverage")))
    except (InvalidOperation, ValueError):
        return None


def gate_status(payload: dict, head: dict, min_coverage: str) -> str:
    if payload.get("state"):
        return s.outcome(payload["state"])
    coverage = coverage_of(head)
    if min_coverage and coverage is not None:
        return s.SUCCESS if coverage >= Decimal(min_coverage) else s.FAILURE
    compare = payload.get("compare") if isinstance(payload.get("compare"), dict) else {}
    return s.FAILURE if compare.get("message") == "decreased" else s.SUCCESS


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """The head commit's coverage as a quality gate."""
    head = payload.get("head") if isinstance(payload.get("head"), dict) else {}
    repo = payload.get("repo") if isinstance(payload.get("repo"), dict) else {}
    owner = payload.get("owner") if isinstance(payload.get("owner"), dict) else {}
    if not head.get("commitid") or not repo.get("name"):
        return []
    project = f"{owner['username']}/{repo['name']}" if owner.get("username") else str(repo["name"])
    options = providers.endpoint_options(delivery)
    coverage = coverage_of(head)
    condition = {"metric": "coverage", "value": str(coverage) if coverage is not None else "",
                 "errorThreshold": options.get("min_coverage", ""),
                 "compare": (payload.get("compare") or {}).get("message", "")}
    return [s.quality_gate(key=f"{project}@{head['commitid']}", project=project,
                           status=gate_status(payload, head, options.get("min_coverage", "")), at=head.get("timestamp"),
                           sha=head["commitid"], branch=head.get("branch") or "",
                           conditions=[{k: v for k, v in condition.items() if v}], url=head.get("url") or "")]


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
