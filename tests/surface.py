"""What every request can reach, for the tests that must cover all of it (tests/test_authorization_matrix.py,
tests/test_hostile_input.py): the routes, read from the URL configuration, so a route added to
config/urls.py (or an app's urls.py) shows up and those tests fail until they say what it must answer;
the rows a request could store; and a world of real objects to aim requests at."""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.utils import aware_utcnow

from core import services as core_services
from core.models import APIKey
from emma.models import AgentTask
from governance.models import Escalation
from governance.selectors import policy_current
from memory import services as memory_services
from memory import working
from memory.models import EMBEDDING_DIMENSIONS, MemoryItem
from tests.conftest import Team, refresh_for

WRITE_METHODS = ("POST", "PUT", "PATCH")

# --- routes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # as written in the URLconf, e.g. "api/tasks/<uuid:task_id>"
    # The methods its view class handles (HEAD and OPTIONS aside); None for a function view, whose
    # methods only a request can tell.
    methods: tuple[str, ...] | None


def _methods(callback) -> tuple[str, ...] | None:
    view_class = getattr(callback, "view_class", None)
    if view_class is None:
        return None
    # as_view(http_method_names=...) narrows a class per route (integrations.webhooks.WebhookView).
    names = callback.view_initkwargs.get("http_method_names", view_class.http_method_names)
    return tuple(name.upper() for name in names if name not in ("head", "options") and hasattr(view_class, name))


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield namespace, Route(pattern.name, prefix + str(pattern.pattern), _methods(pattern.callback))


def all_routes(*, excluding_namespaces: tuple[str, ...] = ("admin",)) -> list[Route]:
    """Every route of the URLconf outside the given namespaces (the admin has its own login)."""
    routes = [route for namespace, route in _walk(get_resolver().url_patterns)
              if namespace not in excluding_namespaces]
    unnamed = [route.pattern for route in routes if not route.name]
    assert not unnamed, f"routes without a name cannot be listed in the tests' tables: {unnamed}"
    return routes


def api_routes() -> list[Route]:
    return [route for route in all_routes() if route.pattern.startswith("api/")]


# --- what a request could store ---------------------------------------------------------------------

# Emma's apps, and the users and groups of django.contrib.auth.
PROJECT_APPS = ("core", "governance", "memory", "operations", "emma", "integrations", "drafting", "auth")


def row_counts() -> dict[str, int]:
    """The number of rows of every table of Emma's apps, in one query."""
    tables = sorted({model._meta.db_table for model in apps.get_models() if model._meta.app_label in PROJECT_APPS})
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {connection.ops.quote_name(table)})"
                                             for table in tables))
        return dict(zip(tables, cursor.fetchone(), strict=True))


# --- callers ----------------------------------------------------------------------------------------

PASSWORD = "correct-horse-battery"
INVALID_TOKENS = ("malformed_token", "expired_token", "wrong_key_token", "unsigned_token", "refresh_as_access",
                  "deactivated_user", "revoked_key", "expired_key")
# Callers that send an API key (Authorization: Api-Key ...) rather than a JWT.
KEY_CALLERS = ("revoked_key", "expired_key", "submitter_key", "admin_key")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def api_key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def client_for(user) -> APIClient:
    return bearer(str(refresh_for(user).access_token))


def member(username: str, tenant: str, role: str):
    return core_services.user_upsert(username=username, password=PASSWORD, tenant_slug=tenant, role=role)


def invalid_token(kind: str, user) -> str:
    """A token naming a real, active user that must still open nothing."""
    token = refresh_for(user).access_token
    if kind == "malformed_token":
        return "not.a.jwt"
    if kind == "expired_token":  # signed with the project's key, but its lifetime ended an hour ago
        token.set_exp(from_time=aware_utcnow() - timedelta(hours=1), lifetime=timedelta(minutes=15))
        return str(token)
    if kind == "wrong_key_token":
        return jwt.encode(token.payload, "a-key-that-is-not-emmas-signing-key-0123456789", algorithm="HS256")
    if kind == "unsigned_token":
        return jwt.encode(token.payload, None, algorithm="none")
    if kind == "refresh_as_access":
        return str(refresh_for(user))
    raise ValueError(kind)


# --- the world --------------------------------------------------------------------------------------

# Text only acme holds: an answer to anyone else that contains it has crossed the tenant boundary.
ACME_SECRET = "acme-only-7f3a"
ACME_TEXT = f"Quarterly confidential figures {ACME_SECRET}"
SESSION = "acme-session"


def unit_vector() -> list[float]:
    return [1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 1)


def in_an_hour() -> str:
    """A delegation's end before World's own delegation (from tomorrow) starts: no overlap, no chain."""
    return (timezone.now() + timedelta(hours=1)).isoformat()


class World:
    """acme's team with two policy versions, an escalated task, a memory item, a bulk job and a working
    memory session; globex's admin; and an API client for every kind of caller."""

    def __init__(self):
        self.acme = acme = Team("acme", member, client_for)
        self.password = PASSWORD
        self.other_tenant_user = member(username="globex-admin", tenant="globex", role="admin")
        self.other_tenant_id = self.other_tenant_user.memberships.get().tenant_id
        acme.set_policy(autonomy_level="supervised")
        acme.set_policy(http_allowed_hosts=[f"{ACME_SECRET}.example.com"])
        submitted = acme.submit(description=ACME_TEXT, estimated_cost=50)
        self.task_id, self.escalation_id = submitted["task_id"], submitted["escalation_id"]
        assert self.escalation_id, submitted
        self.memory_item_id = memory_services.memory_store(tenant_id=acme.tenant_id, content=ACME_TEXT,
                                                           embedding=unit_vector()).id
        self.bulk_job_id = memory_services.memory_bulk_start(tenant_id=acme.tenant_id,
                                                             items=[{"content": f"{ACME_TEXT} in bulk"}]).pk
        self.invitation_id = invitation_in(acme.admin, "colleague@acme.example").pk
        from integrations import registry
        from integrations.models import WebhookDelivery

        self.endpoint, _ = registry.endpoint_create(tenant_id=acme.tenant_id, user=acme.admin, provider="github",
                                                    name="acme repositories")
        self.delivery_id = WebhookDelivery.objects.create(
            provider="github", endpoint=self.endpoint, tenant_id=acme.tenant_id, dedup_key=f"{ACME_SECRET}-delivery",
            event_type="ping", body="{}", status="ignored").pk
        # A draft of acme's submitter (shared with nobody), a comment on it, and a template of acme's admin.
        from drafting import comments as draft_comments
        from drafting import services as drafts
        from drafting import templates as draft_templates

        self.draft_id = drafts.draft_create(user=acme.submitter, title=f"Plan {ACME_SECRET}",
                                            content=f"{ACME_TEXT}\n").pk
        self.draft_comment_id = draft_comments.comment_create(user=acme.submitter, draft_id=self.draft_id,
                                                              body=f"Check {ACME_SECRET}", start=0, end=9).pk
        self.draft_template_id = draft_templates.template_create(
            user=acme.admin, name=f"template {ACME_SECRET}", title="Memo", body="Hello {{ name | default('all') }}",
            variables_schema={"type": "object"}).pk
        # A delegation of the approver's to the admin, from tomorrow (so it changes no other cell).
        from governance import services as governance

        tomorrow = timezone.now() + timedelta(days=1)
        self.delegation_id = governance.delegation_create(
            membership=acme.approver.memberships.get(), delegator=acme.approver, delegate=acme.admin,
            starts_at=tomorrow, ends_at=tomorrow + timedelta(days=1), reason=f"away {ACME_SECRET}").pk
        self.acme_ids = [str(value) for value in (self.task_id, self.escalation_id, self.memory_item_id,
                                                  self.bulk_job_id, self.invitation_id, self.endpoint.pk,
                                                  self.draft_id)]
        # acme's API keys: one a CI job uses (a submitter), one revoked, one past its expiry.
        acme_tenant = acme.submitter.memberships.get().tenant
        self.api_key, submitter_key = core_services.api_key_create(tenant=acme_tenant, created_by=acme.admin,
                                                                   name="ci", role="submitter")
        revoked, revoked_key = core_services.api_key_create(tenant=acme_tenant, created_by=acme.admin,
                                                            name="revoked", role="admin")
        core_services.api_key_revoke(key_id=revoked.pk, tenant=acme_tenant, by=acme.admin)
        expired, expired_key = core_services.api_key_create(tenant=acme_tenant, created_by=acme.admin,
                                                            name="expired", role="admin")
        APIKey.objects.filter(pk=expired.pk).update(expiry_date=timezone.now() - timedelta(minutes=1))
        _, admin_key = core_services.api_key_create(tenant=acme_tenant, created_by=acme.admin, name="ops",
                                                    role="admin")
        self.acme_admin_membership_id = acme.admin.memberships.get().pk
        former = member(username="acme-former-admin", tenant="acme", role="admin")
        former_token = str(refresh_for(former).access_token)
        former.is_active = False  # the project's revocation: simplejwt checks is_active on every request
        former.save(update_fields=["is_active"])
        self.clients = {"anonymous": APIClient(), "other_tenant": client_for(self.other_tenant_user),
                        "submitter": acme.submitter_api, "approver": acme.approver_api, "admin": acme.admin_api,
                        "deactivated_user": bearer(former_token), "revoked_key": api_key_client(revoked_key),
                        "expired_key": api_key_client(expired_key), "submitter_key": api_key_client(submitter_key),
                        "admin_key": api_key_client(admin_key)}
        for kind in INVALID_TOKENS:
            if kind not in self.clients:
                self.clients[kind] = bearer(invalid_token(kind, acme.admin))

    def reset_working_memory(self) -> None:
        """acme's session as built, globex's empty: Redis is not rolled back with the database."""
        self.clear_working_memory()
        working.working_append(tenant_id=self.acme.tenant_id, session_id=SESSION, role="user", content=ACME_TEXT)

    def clear_working_memory(self) -> None:
        for tenant_id in (self.acme.tenant_id, self.other_tenant_id):
            working.working_clear(tenant_id=tenant_id, session_id=SESSION)

    def state(self) -> dict:
        """Every row count of Emma's tables, and acme's objects as they are."""
        return {"counts": row_counts(),
                "task": AgentTask.objects.filter(pk=self.task_id).values("status", "cancel_requested").get(),
                "escalation": Escalation.objects.filter(pk=self.escalation_id).values("status").get(),
                "policy": policy_current(tenant_id=self.acme.tenant_id),
                "memory_item": MemoryItem.objects.filter(pk=self.memory_item_id).exists(),
                "working": working.working_get(tenant_id=self.acme.tenant_id, session_id=SESSION)["entries"]}


# --- account links (core.accounts), each made afresh for the request that follows it ---------------------


def invitation_in(admin, email: str):
    """An invitation from `admin` to their tenant (its link is mailed after commit, so never here)."""
    from core import accounts

    return accounts.invitation_create(tenant=admin.memberships.get().tenant, email=email, role="submitter",
                                      invited_by=admin)[0]


def accept_invite_body(world) -> dict:
    """A new person accepting an invitation to a tenant of its own (so any caller's account may join it)."""
    from core import accounts

    admin = member(username="initech-admin", tenant="initech", role="admin")
    _, link = accounts.invitation_create(tenant=admin.memberships.get().tenant, email="newcomer@initech.example",
                                         role="submitter", invited_by=admin)
    return {"token": link.rsplit("/", 1)[1], "username": "newcomer", "password": "a-fresh-new-passphrase"}


def verify_email_body(world) -> dict:
    """The key of a sign-up's verification link, for a new inactive admin of a new tenant."""
    from core import accounts
    from core.models import EmailAddress

    user = member(username="signup@initech.example", tenant="initech-signup", role="admin")
    user.is_active = False
    user.save(update_fields=["is_active"])
    EmailAddress.objects.create(user=user, email="signup@initech.example")
    return {"key": accounts.email_verification_key(user, "signup@initech.example"), "password": PASSWORD}


def password_reset_confirm_body(world) -> dict:
    """The uid and token of a password reset link of acme's submitter, and a new password."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = world.acme.submitter
    return {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
            "new_password": "another-long-passphrase"}


@contextmanager
def world_rolled_back(django_db_blocker):
    """A World for a whole test module, in a transaction rolled back after it. Each test's own transaction
    (pytest-django's) is a savepoint inside it, so whatever one test changes is undone before the next,
    and hundreds of tests share one setup."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = World()
        try:
            yield world
        finally:
            transaction.set_rollback(True)
            world.clear_working_memory()
