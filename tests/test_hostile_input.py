"""Hostile input on every write under /api/ (read from the URL configuration: WRITES must name each one,
or test_every_write_endpoint_is_covered fails) and on every list: each gets a clear 4xx with Emma's JSON
error body, never a 500, and stores nothing (no table of Emma's gains or loses a row, working memory
included).

The bodies start from one each endpoint accepts (test_the_valid_body_is_accepted proves it), so what
refuses a hostile one is its hostility: too large, nested too deep, not UTF-8, NUL characters (which
PostgreSQL's text and jsonb cannot store), a key given twice (a proxy that reads the first value and
Emma the last would disagree on what was sent), not JSON at all (text, a form, multipart, no content
type, a charset that decompresses), or JSON that is not an object."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from core.serializers import Pagination
from memory import working
from memory.selectors import MAX_LIMIT
from tests.conftest import refresh_for
from tests.surface import (SESSION, WRITE_METHODS, accept_invite_body, api_routes, in_an_hour,
                           password_reset_confirm_body, row_counts, unit_vector, verify_email_body)

pytestmark = pytest.mark.django_db

# Pinned for every test here (`hostile`): above the deepest body, below the oversized one.
MAX_PAYLOAD_BYTES = 128 * 1024
NESTING = 10_000


@pytest.fixture
def hostile(world, db, settings):
    """The world as each test starts it, with the limits it relies on pinned."""
    settings.MAX_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES
    # A draft's body may be twice its content limit: at half the general limit, the general limit holds.
    settings.DRAFT_MAX_CONTENT_BYTES = MAX_PAYLOAD_BYTES // 2
    settings.RATE_LIMIT_PER_MIN = 10_000
    # A model configured, so an agent run (a draft's assist) may be submitted; nothing here runs one.
    settings.LLM_PROVIDER, settings.LLM_BASE_URL = "openai", "http://127.0.0.1:9"
    world.reset_working_memory()
    return world


# --- the write endpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    caller: str  # a key of World.clients
    body: Callable  # world -> the JSON object it accepts ({} for an action that takes no input)
    args: Callable = lambda world: {}  # world -> the path's parameters
    accepted: int = 200  # the answer to `body`


WRITES: dict[tuple[str, str], Write] = {
    ("token-obtain", "POST"): Write("anonymous", lambda world: {"username": world.acme.submitter.username,
                                                                "password": world.password}),
    ("token-refresh", "POST"): Write("anonymous",
                                     lambda world: {"refresh": str(refresh_for(world.acme.submitter))}),
    ("logout", "POST"): Write("anonymous", lambda world: {"refresh": str(refresh_for(world.acme.submitter))},
                              accepted=204),
    ("switch-tenant", "POST"): Write("submitter", lambda world: {"tenant": "acme"}),
    # Sign-up is closed in the test settings (EMMA_SIGNUP=invite): a valid body is a 403, a hostile one a 4xx
    # about itself, since the body is read before the rule.
    ("register", "POST"): Write("anonymous", lambda world: {"email": "new@initech.example", "tenant_name": "Initech",
                                                            "password": "a-fresh-new-passphrase"}, accepted=403),
    ("verify-email", "POST"): Write("anonymous", verify_email_body),
    ("password-reset", "POST"): Write("anonymous", lambda world: {"email": "someone@acme.example"}, accepted=202),
    ("password-reset-confirm", "POST"): Write("anonymous", password_reset_confirm_body, accepted=204),
    ("accept-invite", "POST"): Write("anonymous", accept_invite_body),
    ("invitations", "POST"): Write("admin", lambda world: {"email": "new@acme.example", "role": "approver"},
                                   accepted=201),
    ("member-detail", "PATCH"): Write("admin", lambda world: {"role": "approver"}, args=lambda world: {
        "membership_id": world.acme.submitter.memberships.get().pk}),
    ("api-keys", "POST"): Write("admin", lambda world: {"name": "deploy", "role": "submitter",
                                                        "expires_at": "2099-01-01T00:00:00Z",
                                                        "task_types": ["diagnostic.echo"], "rate_limit_per_min": 30},
                                accepted=201),
    ("webhook-endpoints", "POST"): Write("admin", lambda world: {"provider": "github", "name": "shop repository",
                                                                 "options": {}}, accepted=201),
    ("webhook-endpoint-detail", "PATCH"): Write("admin", lambda world: {"name": "renamed", "enabled": True},
                                                args=lambda world: {"endpoint_id": world.endpoint.pk}),
    ("webhook-endpoint-rotate", "POST"): Write("admin", lambda world: {"overlap_seconds": 3600},
                                               args=lambda world: {"endpoint_id": world.endpoint.pk}),
    ("webhook-delivery-replay", "POST"): Write("admin", lambda world: {}, accepted=202,
                                               args=lambda world: {"delivery_id": world.delivery_id}),
    ("webhook-deliveries-redrive", "POST"): Write("admin", lambda world: {"provider": "github"}, accepted=202),
    ("tasks", "POST"): Write("submitter", lambda world: {"task_type": "diagnostic.echo", "description": "hello",
                                                          "parameters": {"text": "hello"}}, accepted=202),
    ("tasks-batch", "POST"): Write("submitter", lambda world: {"tasks": [
        {"task_type": "diagnostic.echo", "parameters": {"text": "one"}, "idempotency_key": "batch-1"},
        {"task_type": "diagnostic.echo", "parameters": {"text": "two"}}]}, accepted=202),
    ("task-callback-secret", "POST"): Write("admin", lambda world: {}, accepted=201),
    ("task-cancel", "POST"): Write("submitter", lambda world: {}, args=lambda world: {"task_id": world.task_id}),
    ("escalation-approve", "POST"): Write("approver", lambda world: {"reason": "looks fine"},
                                          args=lambda world: {"escalation_id": world.escalation_id}),
    ("escalation-reject", "POST"): Write("approver", lambda world: {"reason": "not now", "stop_run": False},
                                         args=lambda world: {"escalation_id": world.escalation_id}),
    # A reply answers an agent's tool call; this escalation is a task's, so even this body is a 400.
    ("escalation-reply", "POST"): Write("approver", lambda world: {"reason": "see", "message": "this way"},
                                        args=lambda world: {"escalation_id": world.escalation_id}, accepted=400),
    ("policy", "PUT"): Write("admin", lambda world: {"autonomy_level": "restricted",
                                                     "rules": {"diagnostic.echo": "allow"}}),
    ("policy-rollback", "POST"): Write("admin", lambda world: {"version": 1}),
    ("delegations", "POST"): Write("admin", lambda world: {"delegate": "acme-approver",
                                                           "ends_at": in_an_hour()}, accepted=201),
    ("delegation-revoke", "POST"): Write("approver", lambda world: {},
                                         args=lambda world: {"delegation_id": world.delegation_id}),
    ("policy-simulate", "POST"): Write("approver", lambda world: {
        "policy": {"autonomy_level": "restricted", "rules": {"diagnostic.echo": {"allow_below": 5}}}, "last": 100}),
    # The world's approval record argues for no rule: its valid acceptance is a 409 (read, and refused, after the body).
    ("governance-suggestions-accept", "POST"): Write("admin", lambda world: {
        "task_type": "diagnostic.echo", "rule": {"allow_below": 5}}, accepted=409),
    ("config-document", "PUT"): Write("admin", lambda world: {"content": {"model": "hostile-model"}, "reason": "test"},
                                      args=lambda world: {"document": "llm"}),
    ("config-rollback", "POST"): Write("admin", lambda world: {"version": 1, "reason": "test"},
                                       args=lambda world: {"document": "policy"}),
    ("config-import", "POST"): Write("admin", lambda world: {"documents": {"llm": {"content": {"model": "m"}}},
                                                             "reason": "test"}),
    ("memory-store", "POST"): Write("submitter", lambda world: {"content": "the office opens at nine",
                                                                "metadata": {"topic": "office"}}, accepted=201),
    ("memory-embeddings", "POST"): Write("submitter", lambda world: {"content": "a fact with its own vector",
                                                                     "embedding": unit_vector()}, accepted=201),
    ("memory-bulk", "POST"): Write("submitter", lambda world: {"items": [{"content": "one of many"}]},
                                   accepted=202),
    ("drafts", "POST"): Write("submitter", lambda world: {"title": "Plan", "content": "# Plan\n", "tags": ["q3"],
                                                          "collaborators": [{"username": world.acme.approver.username,
                                                                             "role": "viewer"}]}, accepted=201),
    ("draft-detail", "PATCH"): Write("submitter", lambda world: {"title": "Renamed", "tags": ["q4"]},
                                     args=lambda world: {"draft_id": world.draft_id}),
    ("draft-collaborators", "PUT"): Write("submitter", lambda world: {"collaborators": [
        {"username": world.acme.approver.username, "role": "editor"}]}, args=lambda world: {"draft_id": world.draft_id}),
    ("draft-transition", "POST"): Write("submitter", lambda world: {"action": "submit", "note": "ready"},
                                        args=lambda world: {"draft_id": world.draft_id}),
    ("draft-review", "POST"): Write("submitter", lambda world: {"note": "ready"}, accepted=201,
                                    args=lambda world: {"draft_id": world.draft_id}),
    # The world's draft is not approved: its valid publication is a 409 (read, and refused, after the body).
    ("draft-publish", "POST"): Write("submitter", lambda world: {"target": "slack", "channel": "#general"},
                                     args=lambda world: {"draft_id": world.draft_id}, accepted=409),
    # No If-Match can ride along here: the valid body is a 428 (the body is read, and refused, first).
    ("draft-revisions", "POST"): Write("submitter", lambda world: {"content": "new text\n", "checkpoint": True},
                                       args=lambda world: {"draft_id": world.draft_id}, accepted=428),
    ("draft-revision-restore", "POST"): Write("submitter", lambda world: {}, accepted=201,
                                              args=lambda world: {"draft_id": world.draft_id, "number": 1}),
    ("draft-comments", "POST"): Write("submitter", lambda world: {"body": "Why?", "start": 0, "end": 5},
                                      args=lambda world: {"draft_id": world.draft_id}, accepted=201),
    ("draft-comment-resolve", "POST"): Write("submitter", lambda world: {}, args=lambda world: {
        "draft_id": world.draft_id, "comment_id": world.draft_comment_id}),
    ("draft-comment-reopen", "POST"): Write("submitter", lambda world: {}, args=lambda world: {
        "draft_id": world.draft_id, "comment_id": world.draft_comment_id}),
    ("draft-analysis", "POST"): Write("submitter", lambda world: {"content": "Some text.\n", "doc_type": "email"},
                                      args=lambda world: {"draft_id": world.draft_id}),
    ("draft-assist", "POST"): Write("submitter", lambda world: {
        "action": "revise", "instruction": "Shorter", "selection": {"start": 0, "end": 5}, "revision": 1},
        args=lambda world: {"draft_id": world.draft_id}, accepted=202),
    ("draft-templates", "POST"): Write("admin", lambda world: {"name": "memo", "title": "Memo", "body": "Hi {{ who }}",
                                                               "variables_schema": {"type": "object"}}, accepted=201),
    ("draft-template-detail", "PATCH"): Write("admin", lambda world: {"body": "Hello {{ name }}"},
                                              args=lambda world: {"template_id": world.draft_template_id}),
    ("draft-template-preview", "POST"): Write("submitter", lambda world: {"variables": {"name": "team"}},
                                              args=lambda world: {"template_id": world.draft_template_id}),
    ("memory-working", "POST"): Write("submitter", lambda world: {"content": "remember this", "role": "user"},
                                      args=lambda world: {"session_id": SESSION}, accepted=201),
}
WRITE_IDS = [f"{name}-{method}" for name, method in WRITES]


def test_every_write_endpoint_is_covered():
    served = {(route.name, method) for route in api_routes() for method in route.methods or ()
              if method in WRITE_METHODS}
    assert served == set(WRITES), {"served, not covered": sorted(served - set(WRITES)),
                                   "covered, not served": sorted(set(WRITES) - served)}


def post(world, endpoint: tuple[str, str], raw: bytes, content_type: str = "application/json"):
    name, method = endpoint
    write = WRITES[endpoint]
    return world.clients[write.caller].generic(method, reverse(name, kwargs=write.args(world)), data=raw,
                                               content_type=content_type)


def stored(world) -> tuple:
    return row_counts(), working.working_get(tenant_id=world.acme.tenant_id, session_id=SESSION)["entries"]


def assert_refused(response, status: int, code: str):
    assert response.status_code == status, (response.status_code, response.content[:1000])
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


# --- hostile bodies, each made from the one the endpoint accepts --------------------------------------


def _first_string_path(value, path=()):
    if isinstance(value, str):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_string_path(item, (*path, key))
        if found is not None:
            return found
    return None


def with_nul(body: dict) -> dict:
    """The body with a NUL character in its first string (or in a field of its own, when it has none)."""
    body = json.loads(json.dumps(body))
    path = _first_string_path(body)
    if not path:
        return {**body, "note": "before\x00after"}
    *parents, last = path
    holder = body
    for key in parents:
        holder = holder[key]
    holder[last] = f"{holder[last]}\x00"
    return body


def with_extra(body: dict, raw_member: bytes) -> bytes:
    """The body's JSON with one more member, written as raw bytes."""
    encoded = json.dumps(body).encode()
    return encoded[:-1] + (b", " if body else b"") + raw_member + b"}"


def duplicated_key(body: dict) -> bytes:
    """The body with its first key given twice, a different value first (what a proxy would read)."""
    if not body:
        return b'{"note": "what a proxy reads", "note": "what Emma would read"}'
    key = next(iter(body))
    return b"{" + json.dumps(key).encode() + b': "smuggled", ' + json.dumps(body).encode()[1:]


def flat(body: dict) -> dict:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()}


HOSTILE_BODIES: dict[str, tuple[Callable[[dict], tuple[bytes, str]], int, str]] = {
    # name: (body -> (raw, content type), status, error code)
    "oversized": (lambda body: (json.dumps(body).encode() + b" " * MAX_PAYLOAD_BYTES, "application/json"),
                  413, "payload_too_large"),
    "malformed": (lambda body: (json.dumps(body).encode()[:-1], "application/json"), 400, "parse_error"),
    "nested_10000_deep": (lambda body: (with_extra(body, b'"deep": ' + b"[" * NESTING + b"]" * NESTING),
                                        "application/json"), 400, "parse_error"),
    "nested_objects_10000_deep": (lambda body: (with_extra(body, b'"deep": ' + b'{"a": ' * NESTING + b"1"
                                                            + b"}" * NESTING), "application/json"),
                                  400, "parse_error"),
    "invalid_utf8": (lambda body: (with_extra(body, b'"note": "\xff\xfe\xc3("'), "application/json"),
                     400, "parse_error"),
    "nul_in_a_string": (lambda body: (json.dumps(with_nul(body)).encode(), "application/json"), 400, "parse_error"),
    "nul_in_a_key": (lambda body: (with_extra(body, b'"no\\u0000te": 1'), "application/json"), 400, "parse_error"),
    "duplicate_keys": (lambda body: (duplicated_key(body), "application/json"), 400, "parse_error"),
    "text_plain": (lambda body: (json.dumps(body).encode(), "text/plain"), 415, "unsupported_media_type"),
    "form_encoded": (lambda body: (urlencode(flat(body)).encode() or b"note=1", "application/x-www-form-urlencoded"),
                     415, "unsupported_media_type"),
    "multipart": (lambda body: (encode_multipart(BOUNDARY, flat(body) or {"note": "1"}), MULTIPART_CONTENT),
                  415, "unsupported_media_type"),
    "no_content_type": (lambda body: (json.dumps(body).encode(), ""), 415, "unsupported_media_type"),
    # A codec that is not a text encoding would decompress the body past the size limit (DRF refuses it).
    "a_compressing_charset": (lambda body: (json.dumps(body).encode(), "application/json; charset=bz2_codec"),
                              400, "parse_error"),
    "a_list": (lambda body: (json.dumps([body]).encode(), "application/json"), 400, "validation_error"),
    "a_number": (lambda body: (b"42", "application/json"), 400, "validation_error"),
    "a_string": (lambda body: (b'"hello"', "application/json"), 400, "validation_error"),
    "null": (lambda body: (b"null", "application/json"), 400, "validation_error"),
    "true": (lambda body: (b"true", "application/json"), 400, "validation_error"),
}


@pytest.mark.parametrize("endpoint", list(WRITES), ids=WRITE_IDS)
def test_the_valid_body_is_accepted(hostile, endpoint):
    """The baseline every hostile body is made from: without its hostility, the endpoint takes it."""
    response = post(hostile, endpoint, json.dumps(WRITES[endpoint].body(hostile)).encode())
    assert response.status_code == WRITES[endpoint].accepted, response.content[:1000]


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
@pytest.mark.parametrize("endpoint", list(WRITES), ids=WRITE_IDS)
def test_a_hostile_body_is_refused_and_stores_nothing(hostile, endpoint, case):
    make, status, code = HOSTILE_BODIES[case]
    raw, content_type = make(WRITES[endpoint].body(hostile))
    before = stored(hostile)
    response = post(hostile, endpoint, raw, content_type)
    error = assert_refused(response, status, code)
    assert stored(hostile) == before
    if status == 413:
        assert error["details"] == {"max_bytes": MAX_PAYLOAD_BYTES}


# --- hostile query strings on the lists -------------------------------------------------------------

# Every GET under /api/ without path parameters: a paginated list (page, page_size), a search (limit),
# or a read that takes no query (its parameters are ignored, as for any resource).
PAGINATED = ("tasks", "escalations-active", "policy-versions", "audit", "memory-episodes", "invitations",
             "members", "api-keys", "webhook-endpoints", "webhook-deliveries", "dora-deployments", "dora-changes",
             "dora-incidents", "config-versions", "drafts", "draft-templates", "draft-assists", "delegations")
# Lists under a path parameter, and the one each is read at (world -> the path's parameters).
PATH_ARGS = {"config-versions": lambda world: {"document": "policy"},
             "draft-assists": lambda world: {"draft_id": world.draft_id}}


def list_path(world, name: str) -> str:
    return reverse(name, kwargs=PATH_ARGS[name](world) if name in PATH_ARGS else None)
LIMITED = ("memory-search",)
NOT_LISTS = {"me": "the caller", "task-types": "a fixed catalogue", "policy": "one document",
             "config": "the registered documents, a fixed catalogue",
             "schema": "public, no data", "api-docs": "public, no data", "webhook-providers": "a fixed catalogue",
             "dora-summary": "figures over a window (its filters are checked: a bad one is a 400)",
             "governance-stats": "approval figures over a window (its filters are checked: a bad one is a 400)",
             "governance-suggestions": "the suggestions that stand now, at most one per task type"}

HUGE = "9" * 30
HOSTILE_PAGING: dict[str, tuple[dict, int, str]] = {
    "page_size_huge": ({"page_size": HUGE}, 400, "validation_error"),
    "page_size_over_the_maximum": ({"page_size": Pagination.max_page_size + 1}, 400, "validation_error"),
    "page_size_zero": ({"page_size": 0}, 400, "validation_error"),
    "page_size_negative": ({"page_size": -1}, 400, "validation_error"),
    "page_size_not_a_number": ({"page_size": "all"}, 400, "validation_error"),
    "page_zero": ({"page": 0}, 400, "validation_error"),
    "page_negative": ({"page": -5}, 400, "validation_error"),
    "page_not_a_number": ({"page": "1e400"}, 400, "validation_error"),
    "page_with_5000_digits": ({"page": "9" * 5000}, 400, "validation_error"),
    "page_past_the_end": ({"page": HUGE}, 404, "not_found"),
    "page_with_a_nul": ({"page": "1\x00"}, 400, "validation_error"),
    "unknown_parameter": ({"limit": HUGE}, 400, "validation_error"),
}
HOSTILE_LIMITS: dict[str, tuple[dict, int, str]] = {
    "limit_huge": ({"limit": HUGE}, 400, "validation_error"),
    "limit_over_the_maximum": ({"limit": MAX_LIMIT + 1}, 400, "validation_error"),
    "limit_zero": ({"limit": 0}, 400, "validation_error"),
    "limit_negative": ({"limit": -1}, 400, "validation_error"),
    "query_with_a_nul": ({"query": "a\x00b"}, 400, "validation_error"),
    "metadata_nested_10000_deep": ({"metadata": "[" * NESTING + "]" * NESTING}, 400, "validation_error"),
    "metadata_with_a_nul": ({"metadata": '{"k": "a\\u0000b"}'}, 400, "validation_error"),
    "page_size_is_not_its_parameter": ({"page_size": HUGE}, 400, "validation_error"),
}


def test_every_list_is_covered():
    reads = {route.name for route in api_routes() if "GET" in (route.methods or ()) and "<" not in route.pattern}
    listed = {*PAGINATED, *LIMITED, *NOT_LISTS} - set(PATH_ARGS)
    assert reads == listed, {"not covered": sorted(reads - listed), "not served": sorted(listed - reads)}


@pytest.mark.parametrize("case", list(HOSTILE_PAGING))
@pytest.mark.parametrize("name", PAGINATED)
def test_hostile_paging_is_refused(hostile, name, case):
    query, status, code = HOSTILE_PAGING[case]
    response = hostile.clients["admin"].get(list_path(hostile, name), query)
    error = assert_refused(response, status, code)
    if status == 400:
        assert set(error["details"]) == set(query), error


@pytest.mark.parametrize("case", list(HOSTILE_LIMITS))
@pytest.mark.parametrize("name", LIMITED)
def test_hostile_search_limits_are_refused(hostile, name, case):
    query, status, code = HOSTILE_LIMITS[case]
    response = hostile.clients["admin"].get(reverse(name), {"query": "office", **query})
    error = assert_refused(response, status, code)
    assert set(error["details"]) == set(query), error


@pytest.mark.parametrize("name", PAGINATED)
def test_the_largest_page_is_served(hostile, name):
    response = hostile.clients["admin"].get(list_path(hostile, name),
                                            {"page_size": Pagination.max_page_size, "page": 1})
    assert response.status_code == 200, response.content[:1000]
