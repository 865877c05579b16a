"""The published OpenAPI schema, held to what the app does. Schemathesis reads /api/schema/ from the app
itself and, for every operation, sends what the schema allows and what it forbids, in process through
Django's WSGI handler (no server, no network), three times: as a tenant admin (every operation allowed),
without a token, and as another tenant's admin aimed at the first tenant's objects.

Every answer must be documented (status code, content type, body, headers), none may be a 5xx, and most
of what the schema calls valid must be accepted: a schema that allows what the API refuses misleads every
client generated from it. Deterministic: the same examples on every run (Schemathesis' boundary cases,
then MAX_EXAMPLES generated ones per operation for the tenant admin, STRANGER_EXAMPLES for the others).
Slow (minutes): `make test` and CI run it, `make test-quick` does not."""

import socket

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import CallOutcome
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from core import services as core_services
from emma import services as task_services
from memory import services as memory_services
from memory import working
from tests.conftest import refresh_for
from tests.surface import invitation_in

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The tenant admin's requests are also held to being accepted, so they get the most examples; a stranger's
# (no token, another tenant) are refused before their body matters, and fewer find what they can.
MAX_EXAMPLES = 25
STRANGER_EXAMPLES = 8


def schema_with(max_examples: int):
    """The schema, read once at collection (its operations are the tests' parameters)."""
    config = schemathesis.Config.from_dict({
        # No NUL in generated strings: the schema's description says none is accepted, which no pattern can.
        "generation": {"max-examples": max_examples, "deterministic": True, "database": "none", "allow-x00": False},
    })
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=config)


schema = schema_with(MAX_EXAMPLES)
strangers_schema = schema_with(STRANGER_EXAMPLES)

# One tenant's fixtures serve all of an operation's examples, on purpose; nothing is timed (too_slow);
# large and filtered examples are what a fuzzer is for.
HEALTH_CHECKS_OFF = [hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow,
                     hypothesis.HealthCheck.data_too_large, hypothesis.HealthCheck.filter_too_much]

# What the schema promises, and no timing (no max_response_time).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

# Operations whose valid requests are mostly refused for reasons no schema can state, because they depend
# on what exists. They are fuzzed and checked all the same; only their acceptance rate is not.
MOSTLY_REFUSED = {
    # `from` must come before `to`, two query parameters no schema can relate; the fuzzer's boundary dates are
    # often equal (the other DORA lists draw fewer such pairs, by the luck of their other parameters).
    "GET /api/dora/changes",
    # Edited `arguments` are for an agent's tool call, and this escalation is a task's; without them the
    # first approval stands and every later one is a 409.
    "POST /api/escalations/{escalation_id}/approve",
    # A reply answers an agent's tool call only; this escalation is a task's.
    "POST /api/escalations/{escalation_id}/reply",
    # `delegate` must name an approver of the tenant (and `ends_at` be in the future, within a year).
    "POST /api/governance/delegations",
    # `version` must be one of the tenant's own policy versions (else a 400 naming it).
    "POST /api/governance/policy/rollback",
    "POST /api/config/{document}/rollback",
    # `content` must satisfy the JSON Schema of the document the path names (each has its own, served by
    # GET /api/config/{document}), and an import's documents must be registered ones: no one schema can say.
    "PUT /api/config/{document}",
    "POST /api/config/import",
    # An event id must be one this task's stream sent; a well-formed one that names nothing is a 400.
    "GET /api/tasks/{task_id}/events",
    # `tenant` must be one the caller belongs to (else a 400 listing theirs).
    "POST /api/auth/switch-tenant",
    # Sign-up is closed in the test settings (EMMA_SIGNUP=invite): every request is a 403 `signup_closed`.
    "POST /api/auth/register",
    # A key, a uid and token, or an invitation token is valid only if this deployment mailed it; generated
    # ones are all refused with the one `link_not_valid` answer.
    "POST /api/auth/verify-email",
    "POST /api/auth/password-reset/confirm",
    "POST /api/auth/accept-invite",
    # `expires_at` must be in the future and `task_types` registered task types (else a 400 naming them): a
    # date the schema cannot bound, names only the running deployment knows.
    "POST /api/api-keys",
    # A webhook endpoint's `options` must be ones its provider takes (GitHub takes none), and its name is the
    # tenant's once per provider (a 409 after the first).
    "POST /api/integrations/endpoints",
    # A member is removed once: every later removal of the same membership is a 404.
    "DELETE /api/members/{membership_id}",
    # Drafts: a save's If-Match must name one of the draft's revisions (else a 409 or 400); a new draft's
    # `template` one of the tenant's; collaborators are members; anchors lie within the revision and a reply's
    # `parent` is a thread of the draft; transitions follow the status machine; a diff's revisions exist;
    # template names are the tenant's once and a body must parse; a preview's `version` must exist.
    "POST /api/drafts/{draft_id}/revisions",
    "POST /api/drafts",
    "PUT /api/drafts/{draft_id}/collaborators",
    "POST /api/drafts/{draft_id}/comments",
    "POST /api/drafts/{draft_id}/transition",
    # A draft is reviewed once at a time (a second submission is a 409 while the first is open), and only an
    # approved one is published; a publication's fields depend on its target.
    "POST /api/drafts/{draft_id}/review",
    "POST /api/drafts/{draft_id}/publish",
    "GET /api/drafts/{draft_id}/diff",
    "GET /api/drafts/{draft_id}/events",
    "POST /api/drafts/templates",
    "PATCH /api/drafts/templates/{template_id}",
    "POST /api/drafts/templates/{template_id}/preview",
    # An assist submits an agent.run, unavailable without a model (a 400, as POST /api/tasks gives); a revise's
    # selection must lie within the revision, and a draft from a brief takes none.
    "POST /api/drafts/{draft_id}/assist",
}

# A string only acme's objects carry: globex must never see it.
ACME_SECRET = "acme-private-3f9c2e"
# Path parameters that name an object of one tenant (a session id names one in each tenant).
OBJECT_IDS = {"task_id", "escalation_id", "item_id", "job_id", "invitation_id", "membership_id", "key_id",
              "draft_id", "comment_id", "template_id"}


@pytest.fixture(autouse=True)
def hermetic(settings, monkeypatch):
    """No rate limit (hundreds of requests a minute from one user), and every host name resolves to one
    public address without a DNS query (a callback URL's host is resolved at submission)."""
    settings.RATE_LIMIT_PER_MIN = 10**9
    settings.ACCOUNT_RATE_LIMIT_PER_MIN = 10**9
    settings.DRAFT_STREAM_MAX_SECONDS = 0.2  # a draft's event stream ends soon after it has sent what it holds
    resolve = socket.getaddrinfo

    def without_dns(host, port, *args, **kwargs):
        try:
            return resolve(host, port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})
        except socket.gaierror:
            return resolve("8.8.8.8", port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})

    monkeypatch.setattr(socket, "getaddrinfo", without_dns)


@pytest.fixture
def acme_objects(acme):
    """One of each object acme's URLs name, each carrying ACME_SECRET: a finished task (so its event stream
    ends at once), an open escalation (of a task acme's submitter sent, so the admin may decide it), a
    memory item, a bulk job, a working-memory session, an API key and a member (the approver)."""
    finished = acme.submit(description=ACME_SECRET, parameters={"note": ACME_SECRET})
    task_services.task_cancel(user=acme.submitter, task_id=finished["task_id"])
    escalated = acme.submit("webhook.post", description=ACME_SECRET,
                            parameters={"url": "https://crm.example.com/hook", "body": {"note": ACME_SECRET}})
    item = memory_services.memory_store(tenant_id=acme.tenant_id, content=f"The {ACME_SECRET} plan.")
    job = memory_services.memory_bulk_start(tenant_id=acme.tenant_id, items=[{"content": ACME_SECRET}])
    working.working_append(tenant_id=acme.tenant_id, session_id="acme-notes", role="user", content=ACME_SECRET)
    invitation = invitation_in(acme.admin, f"{ACME_SECRET}@acme.example")
    api_key, _ = core_services.api_key_create(tenant=acme.admin.memberships.get().tenant, created_by=acme.admin,
                                              name=ACME_SECRET, role="submitter")
    from drafting import comments as draft_comments
    from drafting import services as drafts
    from drafting import templates as draft_templates

    draft = drafts.draft_create(user=acme.admin, title=ACME_SECRET, content=f"The {ACME_SECRET} draft.\n")
    comment = draft_comments.comment_create(user=acme.admin, draft_id=draft.pk, body=ACME_SECRET, start=0, end=3)
    template = draft_templates.template_create(user=acme.admin, name=ACME_SECRET, title="Memo", body="Hi")
    return {"draft_id": str(draft.pk), "comment_id": comment.pk, "template_id": template.pk, "number": 1,
            "task_id": finished["task_id"], "escalation_id": escalated["escalation_id"], "item_id": str(item.id),
            "job_id": str(job.pk), "session_id": "acme-notes", "invitation_id": str(invitation.pk),
            "key_id": api_key.pk, "membership_id": acme.approver.memberships.get().pk}


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {refresh_for(user).access_token}"}


@pytest.fixture
def caller(request, acme, globex):
    """Who sends the requests, and the objects their URLs name: acme's, for both admins."""
    if request.param == "anonymous":
        return {"name": request.param, "headers": {}, "objects": {}}
    admin = acme.admin if request.param == "tenant_admin" else globex.admin
    return {"name": request.param, "headers": bearer(admin), "objects": request.getfixturevalue("acme_objects")}


@pytest.fixture
def connection_kept(caller):
    """The test's transaction outlives every request, as under Django's test client: the handler closes
    the connection after each request otherwise. After `caller`, whose fixtures use that client (which
    reconnects the signal after each of its own requests)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def valid_requests(caller):
    """The tenant admin's requests that the schema calls valid, accepted or refused: after all of an
    operation's examples, most must have been accepted."""
    seen = {"operation": None, "accepted": 0, "refused": []}
    yield seen
    operation = seen["operation"]
    total = seen["accepted"] + len(seen["refused"])
    if caller["name"] == "tenant_admin" and total >= 10 and operation not in MOSTLY_REFUSED:
        assert len(seen["refused"]) <= total / 2, (
            f"{operation}: {len(seen['refused'])} of the {total} requests its schema calls valid were refused, "
            "e.g.\n" + "\n".join(seen["refused"][:5]))


@schema.parametrize()
@pytest.mark.parametrize("caller", ["tenant_admin"], indirect=True)
@hypothesis.settings(suppress_health_check=HEALTH_CHECKS_OFF)
def test_every_operation_answers_as_documented(case, caller, valid_requests, connection_kept):
    exercise(case, caller, valid_requests)


@strangers_schema.parametrize()
@pytest.mark.parametrize("caller", ["anonymous", "other_tenant"], indirect=True)
@hypothesis.settings(suppress_health_check=HEALTH_CHECKS_OFF)
def test_every_operation_answers_strangers_as_documented(case, caller, valid_requests, connection_kept):
    exercise(case, caller, valid_requests)


def exercise(case, caller, valid_requests):
    """One example sent as the caller, its answer checked against the schema and the tenant boundary."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    for name in case.path_parameters or {}:
        if positive and name in caller["objects"]:  # a negative case keeps its malformed id
            case.path_parameters[name] = caller["objects"][name]
    response = case.call_and_validate(headers=caller["headers"], checks=CHECKS)
    if case.method.upper() != case.operation.method.upper():
        return  # Schemathesis trying a method the operation lacks: a 405 (or DRF's OPTIONS)
    label = case.operation.label
    if caller["name"] == "anonymous" and case.operation.definition.raw.get("security"):
        assert response.status_code >= 400, f"{label} answered {response.status_code} without a token"
    if caller["name"] == "other_tenant":
        assert ACME_SECRET not in response.text, f"{label} showed acme's data to globex"
        if OBJECT_IDS & set(case.path_parameters or {}):
            # A success, a 403 or a 409 would each tell globex that acme's object exists.
            assert response.status_code not in (200, 201, 202, 204, 403, 409), (
                f"{label} on acme's object answered globex {response.status_code}")
    if positive:
        valid_requests["operation"] = label
        outcome = case.operation.schema.classify_call_outcome(case, response)
        if outcome is CallOutcome.ACCEPTED:
            valid_requests["accepted"] += 1
        elif outcome is CallOutcome.REJECTED:  # 401, 403, 404, 409 and 429 say nothing of the data
            valid_requests["refused"].append(f"{case.as_curl_command()[:500]}\n  -> {response.text[:300]}")
