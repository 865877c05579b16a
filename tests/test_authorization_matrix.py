"""Who may call what: every route Emma serves × every method it handles × every kind of caller, with the
routes read from the URL configuration (tests/surface.py), so a new endpoint cannot be forgotten: ROUTES
must say what it answers, or test_every_served_route_and_method_is_in_the_matrix fails.

Callers (CALLERS): no token; tokens that must open nothing (not a JWT; expired; signed with another key;
unsigned, alg "none"; a refresh token sent as an access token; a deactivated user's; a revoked API key; an
expired API key); a user of another tenant (globex's admin, the strongest role, so that what refuses them is
the tenant boundary, not their role); acme's submitter, approver and admin; and acme's API keys with the
submitter role (`submitter_key`) and the admin role (`admin_key`): machines, not people: nobody's members,
submitters of none of acme's tasks; they manage neither keys, members nor invitations and decide no
escalation, whatever their role. The objects named in paths are real and are acme's.

What every cell keeps:
- no valid token: 401 with Emma's JSON error body, on every route that is not public;
- a role the route does not allow: 403; another tenant's object: 404, as if it did not exist;
- whoever is not acme's gets an answer with none of acme's ids or data in it;
- a refused request (401, 403, 404) changes nothing: no table gains or loses a row, and acme's task,
  escalation, policy, memory and working memory are as they were.

Revocation: every request re-reads the caller's membership of the token's tenant and their account, so an
access token stops at once when its user is deactivated (the deactivated caller) or removed from the tenant
(tests/core/test_members.py). Refresh tokens are simplejwt's blacklist's: each works once (rotation), logging
out blacklists one, and removing a member blacklists theirs for that tenant. An API key stops at its next
request once revoked or past its expiry (the revoked_key and expired_key callers).

Public on purpose (the Public rules): /health, /health/live, /health/ready and /version are probes for
load balancers and orchestrators and carry no tenant data; /metrics is scraped by Prometheus without
credentials, so it must be reachable from the cluster's network only (it names tenants, in
emma_memory_items{tenant}, and counts their work); the token endpoints are how a
caller gets a token; the OpenAPI schema and its docs page describe the API and hold no data; and
/webhooks/* are signed by each provider instead (integrations.webhooks): a JWT opens none of them, and
without the provider's signature every caller gets the same refusal and nothing is stored. /oauth/github/* need
the admin's session (a tenant admin connecting GitHub): a JWT is none, so every caller here is sent to the login.

Not in the matrix: the admin (/admin/, its own session login with CSRF; tests/governance/test_admin_*),
but for test_a_bearer_token_does_not_open_the_admin. HEAD is Django's GET without the body and OPTIONS
is answered from the view class, both after authentication: test_head_and_options_need_a_token."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from integrations import providers
from tests.conftest import refresh_for
from tests.surface import (ACME_SECRET, INVALID_TOKENS, SESSION, World, accept_invite_body, all_routes, in_an_hour,
                           password_reset_confirm_body, unit_vector, verify_email_body)

pytestmark = pytest.mark.django_db

OUTSIDERS = ("anonymous", *INVALID_TOKENS, "other_tenant")
MEMBERS = ("submitter", "approver", "admin", "submitter_key", "admin_key")
CALLERS = (*OUTSIDERS, *MEMBERS)


@pytest.fixture
def cell(world, db, settings):
    """The world as each cell starts it: settings pinned (no limit a developer exported gets in the way; each
    webhook provider enabled and given a secret, so what refuses a request is its missing signature, not a
    404 or a 503), and acme's working memory session as built."""
    settings.RATE_LIMIT_PER_MIN = 10_000
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.2  # no worker answers /health's ping here: wait little for it
    # A model configured, so a draft's assist may submit its agent run (recorded only: nothing runs it here).
    settings.LLM_PROVIDER, settings.LLM_BASE_URL = "openai", "http://127.0.0.1:9"
    settings.INTEGRATIONS_ENABLED = {provider.switch: True for provider in providers.registered()}
    for name in ("SLACK_SIGNING_SECRET", "TWILIO_AUTH_TOKEN", "WABA_APP_SECRET", "WABA_VERIFY_TOKEN",
                 "GITHUB_WEBHOOK_SECRET", "GITHUB_APP_WEBHOOK_SECRET", "JIRA_WEBHOOK_SECRET", "SENTRY_WEBHOOK_SECRET"):
        setattr(settings, name, f"matrix-{name.lower()}")
    world.reset_working_memory()
    return world


# --- the rules --------------------------------------------------------------------------------------


def members(submitter: int, approver: int, admin: int) -> dict[str, int]:
    return {"submitter": submitter, "approver": approver, "admin": admin}


def everyone(status: int) -> dict[str, int]:
    return members(status, status, status)


def deciders(status: int) -> dict[str, int]:
    return members(403, status, status)


def admins(status: int) -> dict[str, int]:
    return members(403, 403, status)


def no_args(world: World) -> dict:
    return {}


@dataclass(frozen=True)
class Api:
    """A JWT route: what acme's members get, and what globex's admin gets (404 for acme's object)."""

    members: dict[str, int]
    other_tenant: int = 404
    key: int | None = None  # what acme's submitter API key gets, when not what the submitter gets
    admin_key: int | None = None  # what acme's admin API key gets, when not what the admin gets
    args: Callable[[World], dict] = no_args  # the path's parameters
    data: Callable[[World], dict] | None = None  # the JSON body of a write, the query of a read

    def expected(self, caller: str) -> int:
        if caller in ("anonymous", *INVALID_TOKENS):
            return 401
        if caller == "submitter_key":
            return self.members["submitter"] if self.key is None else self.key
        if caller == "admin_key":
            return self.members["admin"] if self.admin_key is None else self.admin_key
        return self.other_tenant if caller == "other_tenant" else self.members[caller]


@dataclass(frozen=True)
class Public:
    """Open to every caller on purpose (`why`), whatever token they bring: `status` is what each gets."""

    why: str
    status: int | tuple[int, ...]
    args: Callable[[World], dict] = no_args
    data: Callable[[World], dict] | None = None

    def expected(self, caller: str) -> int | tuple[int, ...]:
        return self.status


def task(world):
    return {"task_id": world.task_id}


def escalation(world):
    return {"escalation_id": world.escalation_id}


def memory_item(world):
    return {"item_id": world.memory_item_id}


def acme_admin_member(world):
    return {"membership_id": world.acme_admin_membership_id}


def api_key(world):
    return {"key_id": world.api_key.pk}


def endpoint(world):
    return {"endpoint_id": world.endpoint.pk}


def registered_endpoint(world):
    return {"provider": "github", "endpoint_id": world.endpoint.pk}


def delivery(world):
    return {"delivery_id": world.delivery_id}


def draft(world):
    return {"draft_id": world.draft_id}


def draft_revision(world):
    return {"draft_id": world.draft_id, "number": 1}


def draft_comment(world):
    return {"draft_id": world.draft_id, "comment_id": world.draft_comment_id}


def draft_template(world):
    return {"template_id": world.draft_template_id}


def private(status: int) -> dict[str, int]:
    """A draft of the submitter's, shared with nobody: its owner and the tenant's admins."""
    return members(status, 404, status)


PROBE = "a probe for load balancers and orchestrators; no tenant data"
WEBHOOK = "signed by the provider instead of a JWT; unsigned, it is refused and nothing is stored"
SCHEMA = "describes the API; holds no data"
ADMIN_SESSION = "a tenant admin's session (the admin's login), not a JWT: without one, a redirect to the login"


def webhook() -> dict[str, Public]:
    return {"POST": Public(WEBHOOK, 401, data=lambda world: {"hello": "world"})}


ROUTES: dict[str, dict[str, Api | Public]] = {
    # -- public ------------------------------------------------------------------------------------
    "health": {"GET": Public(PROBE, (200, 503))},  # 503 when a dependency is down
    "health-live": {"GET": Public(PROBE, 200)},
    "health-ready": {"GET": Public(PROBE, (200, 503))},
    "version": {"GET": Public(PROBE, 200)},
    "metrics": {"GET": Public("Prometheus scrapes it without credentials; keep it on the cluster's network", 200)},
    "token-obtain": {"POST": Public("how a caller gets a token", 200, data=lambda world: {
        "username": world.acme.submitter.username, "password": world.password})},
    "token-refresh": {"POST": Public("how a caller renews a token", 200, data=lambda world: {
        "refresh": str(refresh_for(world.acme.submitter))})},
    "logout": {"POST": Public("the refresh token it blacklists is its own authority", 204, data=lambda world: {
        "refresh": str(refresh_for(world.acme.submitter))})},
    # Accounts (core.accounts): each link's secret is its own authority; none of them reads a token but
    # accept-invite, which joins the account of a valid one (and refuses an invalid one, as every JWT route).
    "register": {"POST": Public("how a person signs up; closed (signup_closed) unless EMMA_SIGNUP=open", 403,
                                data=lambda world: {"email": "new@initech.example", "tenant_name": "Initech",
                                                    "password": "a-fresh-new-passphrase"})},
    "verify-email": {"POST": Public("the key mailed to a new account is its authority", 200, data=verify_email_body)},
    "password-reset": {"POST": Public("the same answer for any email; the link goes only to its owner", 202,
                                      data=lambda world: {"email": "someone@acme.example"})},
    "password-reset-confirm": {"POST": Public("the uid and token mailed to the account's owner are its authority",
                                              204, data=password_reset_confirm_body)},
    "accept-invite": {"POST": Public("the invitation's token is its authority; a token sent must be valid", (200, 401),
                                     data=accept_invite_body)},
    # The pages an emailed link opens in a browser; a link that names nothing is a 410 for everyone.
    "accept-invite-page": {method: Public("the invitation's token is its authority", 410,
                                          args=lambda world: {"token": "not-an-invitation"}) for method in ("GET", "POST")},
    "verify-email-page": {method: Public("the mailed key is its authority", 410,
                                         args=lambda world: {"key": "not-a-key"}) for method in ("GET", "POST")},
    "reset-password-page": {method: Public("the mailed uid and token are its authority", 410,
                                           args=lambda world: {"uid": "MQ", "token": "not-a-token"})
                            for method in ("GET", "POST")},
    "schema": {"GET": Public(SCHEMA, 200)},
    "api-docs": {"GET": Public(SCHEMA, 200)},
    "webhook-github": webhook(),
    "webhook-github-app": webhook(),
    # The admin's session connects GitHub (integrations.github.oauth): no caller here has one, whatever token it
    # brings, so each is sent to the admin's login; nothing is recorded.
    "github-oauth-authorize": {"GET": Public(ADMIN_SESSION, 302)},
    "github-oauth-callback": {"GET": Public(ADMIN_SESSION, 302)},
    "webhook-jira": webhook(),
    "webhook-sentry": webhook(),
    # A tenant's own endpoints (integrations.webhooks.RegisteredWebhookView), signed with their own secret.
    "webhook-registered": {"POST": Public(WEBHOOK, 401, args=registered_endpoint,
                                          data=lambda world: {"hello": "world"})},
    "webhook-registered-secret": {"POST": Public(WEBHOOK, 401, data=lambda world: {"hello": "world"},
                                                 args=lambda world: {**registered_endpoint(world),
                                                                     "url_secret": "not-the-secret"})},
    "webhook-slack-events": webhook(),
    "webhook-slack-commands": webhook(),
    "webhook-slack-interactions": webhook(),
    "webhook-twilio-sms": webhook(),
    "webhook-waba-messages": {**webhook(), "GET": Public("WhatsApp's subscription handshake: only the verify "
                                                        "token it was given opens it", 403)},
    # -- the caller's identity ---------------------------------------------------------------------
    "me": {"GET": Api(everyone(200), other_tenant=200)},
    # -- a tenant admin's members and API keys (people only: a key is told so) -----------------------
    "members": {"GET": Api(admins(200), other_tenant=200, key=403, admin_key=403)},
    # acme has one admin who can sign in (its former admin is deactivated): an admin demoting or removing
    # themselves is refused (409, the last admin). Changing and removing others: tests/core/test_members.py.
    "member-detail": {"PATCH": Api(admins(409), args=acme_admin_member, key=403, admin_key=403,
                                   data=lambda world: {"role": "approver"}),
                      "DELETE": Api(admins(409), args=acme_admin_member, key=403, admin_key=403)},
    "api-keys": {"GET": Api(admins(200), other_tenant=200, key=403, admin_key=403),
                 "POST": Api(admins(201), other_tenant=201, key=403, admin_key=403,
                             data=lambda world: {"name": "deploy", "role": "submitter"})},
    "api-key-detail": {"DELETE": Api(admins(204), args=api_key, key=403, admin_key=403)},
    # Tokens for another tenant of the caller's: globex's admin is no member of acme.
    "switch-tenant": {"POST": Api(everyone(200), other_tenant=400, key=400, admin_key=400,
                                  data=lambda world: {"tenant": "acme"})},
    # -- tasks -------------------------------------------------------------------------------------
    "tasks": {
        "GET": Api(everyone(200), other_tenant=200),
        "POST": Api(everyone(202), other_tenant=202, data=lambda world: {"task_type": "diagnostic.echo"}),
    },
    "tasks-batch": {"POST": Api(everyone(202), other_tenant=202,
                                data=lambda world: {"tasks": [{"task_type": "diagnostic.echo"}]})},
    "task-callback-secret": {"POST": Api(admins(201), other_tenant=201)},
    "task-detail": {"GET": Api(everyone(200), args=task)},
    # A stream of the task's run; its answer's status is all this reads (its body would wait for the run).
    "task-events": {"GET": Api(everyone(200), args=task)},
    # The submitter or a tenant admin; an approver did not submit it.
    "task-cancel": {"POST": Api(members(200, 403, 200), args=task, key=403)},  # the key did not submit it
    "task-types": {"GET": Api(everyone(200), other_tenant=200)},
    # -- escalations -------------------------------------------------------------------------------
    "escalations-active": {"GET": Api(deciders(200), other_tenant=200)},
    # The submitter's own task's: to anyone else of that role (the key) it does not exist.
    "escalation-detail": {"GET": Api(everyone(200), args=escalation, key=404)},
    # A person decides: never a key, whatever its role.
    "escalation-approve": {"POST": Api(deciders(200), args=escalation, admin_key=403,
                                       data=lambda world: {"reason": "fine"})},
    "escalation-reject": {"POST": Api(deciders(200), args=escalation, admin_key=403,
                                      data=lambda world: {"reason": "no"})},
    # A reply answers an agent's tool call; this escalation is a task's, so a decider's reply is a 400.
    "escalation-reply": {"POST": Api(deciders(400), args=escalation, admin_key=403,
                                     data=lambda world: {"reason": "see", "message": "do it this way"})},
    # -- policy and audit --------------------------------------------------------------------------
    "policy": {
        "GET": Api(everyone(200), other_tenant=200),
        "PUT": Api(admins(200), other_tenant=200, data=lambda world: {"autonomy_level": "restricted"}),
    },
    "policy-versions": {"GET": Api(everyone(200), other_tenant=200)},
    # globex has no version 1 to go back to: a 400 naming it, in globex's own policy.
    "policy-rollback": {"POST": Api(admins(200), other_tenant=400, data=lambda world: {"version": 1})},
    "audit": {"GET": Api(admins(200), other_tenant=200)},
    "governance-stats": {"GET": Api(deciders(200), other_tenant=200)},
    # Delegation is a person's act (never a key's). The body delegates to acme's approver: the approver
    # cannot delegate to themselves (400), the admin may (201); globex has no acme-approver (400).
    "delegations": {
        "GET": Api(deciders(200), other_tenant=200, key=403, admin_key=403),
        "POST": Api(members(403, 400, 201), other_tenant=400, key=403, admin_key=403,
                    data=lambda world: {"delegate": "acme-approver", "ends_at": in_an_hour()}),
    },
    "delegation-revoke": {"POST": Api(deciders(200), args=lambda world: {"delegation_id": world.delegation_id},
                                      key=403, admin_key=403)},
    # Replays the caller's own tenant's decisions: globex's admin simulates globex's (none of acme's).
    "policy-simulate": {"POST": Api(deciders(200), other_tenant=200,
                                    data=lambda world: {"policy": {"autonomy_level": "restricted"}})},
    "governance-suggestions": {"GET": Api(deciders(200), other_tenant=200)},
    # The world's approval record argues for no rule, in acme or in globex: an admin's acceptance is a 409.
    "governance-suggestions-accept": {"POST": Api(admins(409), other_tenant=409, data=lambda world: {
        "task_type": "diagnostic.echo", "rule": "deny"})},
    # -- configuration documents: every member reads the tenant's own, admins change them ---------------
    "config": {"GET": Api(everyone(200), other_tenant=200)},
    "config-document": {
        "GET": Api(everyone(200), other_tenant=200, args=lambda world: {"document": "policy"}),
        "PUT": Api(admins(200), other_tenant=200, args=lambda world: {"document": "llm"},
                   data=lambda world: {"content": {"model": "matrix-model"}, "reason": "matrix"}),
    },
    "config-versions": {"GET": Api(everyone(200), other_tenant=200, args=lambda world: {"document": "policy"})},
    "config-export": {"GET": Api(everyone(200), other_tenant=200, args=lambda world: {"document": "policy"})},
    # globex has no version 1 of its policy to go back to: a 400 naming it, in globex's own configuration.
    "config-rollback": {"POST": Api(admins(200), other_tenant=400, args=lambda world: {"document": "policy"},
                                    data=lambda world: {"version": 1, "reason": "matrix"})},
    "config-import": {"POST": Api(admins(200), other_tenant=200, data=lambda world: {
        "documents": {"llm": {"content": {"model": "matrix-model"}}}, "reason": "matrix"})},
    # -- people ------------------------------------------------------------------------------------
    # People only: an admin key inviting an account would make itself a person with a password.
    "invitations": {
        "GET": Api(admins(200), other_tenant=200, admin_key=403),
        "POST": Api(admins(201), other_tenant=201, admin_key=403,
                    data=lambda world: {"email": "new@acme.example", "role": "approver"}),
    },
    "invitation-detail": {"DELETE": Api(admins(204), admin_key=403,
                                        args=lambda world: {"invitation_id": world.invitation_id})},
    # -- the webhook registry (integrations.api): tenant admins, and admin keys (automation registers endpoints) --
    "webhook-providers": {"GET": Api(admins(200), other_tenant=200)},
    "webhook-endpoints": {
        "GET": Api(admins(200), other_tenant=200),
        "POST": Api(admins(201), other_tenant=201,
                    data=lambda world: {"provider": "github", "name": "another repository"}),
    },
    "webhook-endpoint-detail": {
        "GET": Api(admins(200), args=endpoint),
        "PATCH": Api(admins(200), args=endpoint, data=lambda world: {"enabled": True}),
    },
    "webhook-endpoint-rotate": {"POST": Api(admins(200), args=endpoint, data=lambda world: {})},
    "webhook-deliveries": {"GET": Api(admins(200), other_tenant=200)},
    "webhook-deliveries-redrive": {"POST": Api(admins(202), other_tenant=202, data=lambda world: {})},
    "webhook-delivery-detail": {"GET": Api(admins(200), args=delivery)},
    "webhook-delivery-replay": {"POST": Api(admins(202), args=delivery)},
    # -- DORA metrics: any member reads their own tenant's figures and rows, API keys too --------------
    "dora-summary": {"GET": Api(everyone(200), other_tenant=200)},
    "dora-deployments": {"GET": Api(everyone(200), other_tenant=200)},
    "dora-changes": {"GET": Api(everyone(200), other_tenant=200)},
    "dora-incidents": {"GET": Api(everyone(200), other_tenant=200)},
    # -- drafts (drafting.selectors): private to their owner (acme's submitter here), collaborators and tenant
    # admins; to anyone else of the tenant (the approver while it is not in review, the submitter key's backing
    # user) acme's draft does not exist. Templates: every member reads and uses them, tenant admins change them.
    "drafts": {"GET": Api(everyone(200), other_tenant=200),
               "POST": Api(everyone(201), other_tenant=201, data=lambda world: {"title": "A new plan"})},
    "draft-detail": {"GET": Api(private(200), args=draft, key=404),
                     "PATCH": Api(private(200), args=draft, key=404, data=lambda world: {"title": "Renamed"})},
    "draft-collaborators": {"GET": Api(private(200), args=draft, key=404),
                            "PUT": Api(private(200), args=draft, key=404,
                                       data=lambda world: {"collaborators": []})},
    "draft-transition": {"POST": Api(private(200), args=draft, key=404, data=lambda world: {"action": "submit"})},
    # Review (an escalation to the tenant's reviewers) and publishing (a drafting.publish task): the owner and
    # admins; the world's draft is not approved, so a publication is a 409 for those who may ask for one.
    "draft-review": {"POST": Api(private(201), args=draft, key=404, data=lambda world: {"note": "ready"})},
    "draft-reviews": {"GET": Api(private(200), args=draft, key=404)},
    "draft-publish": {"POST": Api(private(409), args=draft, key=404,
                                  data=lambda world: {"target": "slack", "channel": "#general"})},
    "draft-publications": {"GET": Api(private(200), args=draft, key=404)},
    # A save needs If-Match (the revision it is based on): without one, those who may save get a 428.
    "draft-revisions": {"GET": Api(private(200), args=draft, key=404),
                        "POST": Api(private(428), args=draft, key=404, data=lambda world: {"content": "new"})},
    "draft-revision-detail": {"GET": Api(private(200), args=draft_revision, key=404)},
    "draft-revision-restore": {"POST": Api(private(201), args=draft_revision, key=404)},
    "draft-diff": {"GET": Api(private(200), args=draft, key=404, data=lambda world: {"from": 1})},
    # A stream of the draft's events; its answer's status is all this reads.
    "draft-events": {"GET": Api(private(200), args=draft, key=404)},
    "draft-export": {"GET": Api(private(200), args=draft, key=404, data=lambda world: {"format": "docx"})},
    "draft-analysis": {"GET": Api(private(200), args=draft, key=404),
                       "POST": Api(private(200), args=draft, key=404, data=lambda world: {"content": "Some text."})},
    # Agent help: those who may edit it (its owner and the admins); the run is submitted as any agent.run.
    "draft-assist": {"POST": Api(private(202), args=draft, key=404, data=lambda world: {
        "action": "draft", "brief": "A plan for the quarter"})},
    "draft-assists": {"GET": Api(private(200), args=draft, key=404)},
    "draft-comments": {"GET": Api(private(200), args=draft, key=404),
                       "POST": Api(private(201), args=draft, key=404, data=lambda world: {"body": "Looks good"})},
    "draft-comment-resolve": {"POST": Api(private(200), args=draft_comment, key=404)},
    "draft-comment-reopen": {"POST": Api(private(200), args=draft_comment, key=404)},
    "draft-templates": {"GET": Api(everyone(200), other_tenant=200),
                        "POST": Api(admins(201), other_tenant=201, data=lambda world: {
                            "name": "status update", "title": "Status", "body": "All {{ state }}"})},
    "draft-template-detail": {"GET": Api(everyone(200), args=draft_template),
                              "PATCH": Api(admins(200), args=draft_template, data=lambda world: {"body": "Hi"})},
    "draft-template-versions": {"GET": Api(everyone(200), args=draft_template)},
    "draft-template-preview": {"POST": Api(everyone(200), args=draft_template,
                                           data=lambda world: {"variables": {"name": "team"}})},
    # -- memory ------------------------------------------------------------------------------------
    "memory-store": {"POST": Api(everyone(201), other_tenant=201, data=lambda world: {"content": "a new fact"})},
    "memory-search": {"GET": Api(everyone(200), other_tenant=200,
                                 data=lambda world: {"query": "quarterly confidential figures"})},
    "memory-embeddings": {"POST": Api(everyone(201), other_tenant=201, data=lambda world: {
        "content": "a fact with its own vector", "embedding": unit_vector()})},
    "memory-bulk": {"POST": Api(everyone(202), other_tenant=202,
                                data=lambda world: {"items": [{"content": "one of many"}]})},
    "memory-bulk-job": {"GET": Api(everyone(200), args=lambda world: {"job_id": world.bulk_job_id})},
    "memory-episodes": {"GET": Api(everyone(200), other_tenant=200)},
    # A session id names a session within the caller's tenant: globex's session of the same name is its own.
    "memory-working": {
        "GET": Api(everyone(200), other_tenant=200, args=lambda world: {"session_id": SESSION}),
        "POST": Api(everyone(201), other_tenant=201, args=lambda world: {"session_id": SESSION},
                    data=lambda world: {"content": "remember this"}),
        "DELETE": Api(everyone(204), other_tenant=204, args=lambda world: {"session_id": SESSION}),
    },
    "memory-item": {
        "GET": Api(everyone(200), args=memory_item),
        "DELETE": Api(everyone(204), args=memory_item),
    },
}

CELLS = [pytest.param(name, method, caller, id=f"{name}-{method}-{caller}")
         for name, methods in ROUTES.items() for method in methods for caller in CALLERS]


# --- the matrix -------------------------------------------------------------------------------------


def request(world: World, client: APIClient, name: str, method: str, rule: Api | Public):
    path = reverse(name, kwargs=rule.args(world))
    data = rule.data(world) if rule.data else None
    if method in ("GET", "DELETE"):
        return client.generic(method, path) if data is None else client.get(path, data)
    return client.generic(method, path, data=b"" if data is None else json.dumps(data).encode(),
                          content_type="application/json")


def body_of(response) -> bytes:
    # A stream (task-events) is only opened by the roles allowed to read it; it is not read here (it
    # would wait for the run), and never closed by hand: response.close() would close the database
    # connection under the test's transaction.
    return b"" if response.streaming else response.content


def assert_json_error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    assert body["error"]["code"] and body["error"]["message"], body
    assert "ErrorDetail" not in body["error"]["message"], body  # a sentence, not an exception's repr
    return body["error"]


# What each caller without a valid token is told (and a JWT route says how to log in: WWW-Authenticate).
UNAUTHENTICATED_CODES = {"anonymous": "not_authenticated", "deactivated_user": "user_inactive",
                         "revoked_key": "api_key_not_valid", "expired_key": "api_key_not_valid",
                         **{kind: "token_not_valid" for kind in INVALID_TOKENS
                            if kind not in ("deactivated_user", "revoked_key", "expired_key")}}


@pytest.mark.parametrize(("name", "method", "caller"), CELLS)
def test_authorization_matrix(cell, name, method, caller):
    world, rule = cell, ROUTES[name][method]
    expected = rule.expected(caller)
    refused = {expected} if isinstance(expected, int) else set(expected)
    before = world.state() if refused <= {401, 403, 404} else None
    response = request(world, world.clients[caller], name, method, rule)
    body = body_of(response)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert response.status_code in allowed, (response.status_code, body[:2000])
    if isinstance(rule, Api) and response.status_code >= 400 or response.status_code in (401, 403, 404):
        error = assert_json_error(response)
        if isinstance(rule, Api) and response.status_code == 401:
            assert error["code"] == UNAUTHENTICATED_CODES[caller], error
            assert response.has_header("WWW-Authenticate")
    if caller in OUTSIDERS:
        leaked = [marker for marker in (*world.acme_ids, ACME_SECRET) if marker.encode() in body]
        assert not leaked, f"{caller} was shown acme's {leaked}: {body[:2000]}"
    if before is not None:
        assert world.state() == before, "a refused request changed something"
    if caller == "other_tenant" and response.status_code == 404:
        # Not even a different answer: acme's object looks exactly like one that does not exist.
        nowhere = replace(rule, args=lambda world: {key: 2_000_000_000 if isinstance(value, int) else uuid.uuid4()
                                                    for key, value in rule.args(world).items()})
        assert request(world, world.clients[caller], name, method, nowhere).json() == response.json()


def test_every_served_route_and_method_is_in_the_matrix():
    """A route served but missing from ROUTES, or listed but no longer served, fails here: say who may
    call it (Api) or why it is public (Public)."""
    served = {route.name: route for route in all_routes()}
    assert set(served) == set(ROUTES), {"served, not in the matrix": sorted(set(served) - set(ROUTES)),
                                        "in the matrix, not served": sorted(set(ROUTES) - set(served))}
    for name, route in served.items():
        if route.methods is not None:  # a function view's methods are the table's word (checked below)
            assert set(route.methods) == set(ROUTES[name]), (name, route.methods, sorted(ROUTES[name]))
    not_under_api = sorted(name for name, route in served.items() if not route.pattern.startswith("api/")
                           and not all(isinstance(rule, Public) for rule in ROUTES[name].values()))
    assert not not_under_api, f"JWT routes outside /api/: {not_under_api}"


@pytest.mark.parametrize("name", sorted(route.name for route in all_routes() if route.methods is None))
def test_a_function_view_answers_only_the_methods_the_matrix_lists(api_client, name):
    """Function views (the probes, /metrics) cannot be introspected: every other method is a 405."""
    for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - set(ROUTES[name])):
        response = api_client.generic(method, reverse(name))
        assert response.status_code == 405, (method, response.status_code)


@pytest.mark.parametrize("name", sorted(name for name, methods in ROUTES.items()
                                        if all(isinstance(rule, Api) for rule in methods.values())))
def test_head_and_options_need_a_token(cell, name):
    rule = next(iter(ROUTES[name].values()))
    path = reverse(name, kwargs=rule.args(cell))
    for method in ("HEAD", "OPTIONS"):
        response = cell.clients["anonymous"].generic(method, path)
        assert response.status_code == 401, (method, response.status_code, response.content[:500])


def test_a_bearer_token_does_not_open_the_admin(cell):
    """The admin is a session login: a JWT, even an admin's, is not one."""
    response = cell.acme.admin_api.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
