"""Users in several tenants: a token acts in one tenant (the one named at sign-in, or the only one), a
request reaches that tenant's data only, a switch gives tokens for another, and refresh tokens work once."""

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from core.models import Membership

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def ada(make_user):
    """A submitter in acme and an approver in globex."""
    make_user(username="ada", tenant="acme", role="submitter")
    return make_user(username="ada", tenant="globex", role="approver")


def sign_in(**body) -> tuple[int, dict]:
    response = APIClient().post("/api/auth/token", {"username": "ada", "password": PASSWORD, **body}, format="json")
    return response.status_code, response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_a_user_in_several_tenants_names_one_at_sign_in_and_is_told_which(ada):
    status, body = sign_in()
    assert status == 400
    assert body["error"]["details"]["tenants"] == ["acme", "globex"]

    status, body = sign_in(tenant="initech")
    assert status == 400 and body["error"]["details"]["tenants"] == ["acme", "globex"]

    status, tokens = sign_in(tenant="globex")
    assert status == 200 and tokens["tenant"] == "globex"
    me = bearer(tokens["access"]).get("/api/me").json()
    assert (me["tenant"], me["role"]) == ("globex", "approver")
    assert [(m["tenant"], m["role"]) for m in me["memberships"]] == [("acme", "submitter"), ("globex", "approver")]


def test_a_request_acts_in_its_tokens_tenant_only(ada, make_user):
    _, acme_tokens = sign_in(tenant="acme")
    _, globex_tokens = sign_in(tenant="globex")
    acme, globex = bearer(acme_tokens["access"]), bearer(globex_tokens["access"])

    created = acme.post("/api/tasks", {"task_type": "diagnostic.echo", "parameters": {"text": "hi"}}, format="json")
    assert created.status_code == 202
    task_id = created.json()["task_id"]

    assert acme.get(f"/api/tasks/{task_id}").status_code == 200
    assert globex.get(f"/api/tasks/{task_id}").status_code == 404  # the same person, acting in globex
    assert [t["task_id"] for t in acme.get("/api/tasks").json()["results"]] == [task_id]
    assert globex.get("/api/tasks").json()["results"] == []
    # An approver in globex is a submitter in acme: the role is the token's tenant's.
    assert acme.get("/api/escalations/active").status_code == 403
    assert globex.get("/api/escalations/active").status_code == 200


def test_switching_tenant_gives_tokens_for_another_of_ones_own(ada):
    _, tokens = sign_in(tenant="acme")
    client = bearer(tokens["access"])
    switched = client.post("/api/auth/switch-tenant", {"tenant": "globex"}, format="json")
    assert switched.status_code == 200 and switched.json()["tenant"] == "globex"
    assert bearer(switched.json()["access"]).get("/api/me").json()["tenant"] == "globex"

    refused = client.post("/api/auth/switch-tenant", {"tenant": "initech"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["details"]["tenants"] == ["acme", "globex"]


def test_a_removed_members_tokens_stop_at_once(ada):
    _, tokens = sign_in(tenant="globex")
    client = bearer(tokens["access"])
    assert client.get("/api/me").status_code == 200

    Membership.objects.filter(user=ada, tenant__slug="globex").delete()

    refused = client.get("/api/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_a_member"
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401 and refreshed.json()["error"]["code"] == "not_a_member"
    assert sign_in(tenant="acme")[0] == 200  # their other tenant is untouched


def test_a_refresh_token_works_once_and_logging_out_ends_it(ada):
    _, tokens = sign_in(tenant="acme")
    anonymous = APIClient()
    first = anonymous.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200 and first.json()["refresh"] != tokens["refresh"]
    again = anonymous.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401  # used: blacklisted

    rotated = first.json()["refresh"]
    assert anonymous.post("/api/auth/logout", {"refresh": rotated}, format="json").status_code == 204
    after = anonymous.post("/api/auth/token/refresh", {"refresh": rotated}, format="json")
    assert after.status_code == 401
    assert anonymous.post("/api/auth/logout", {"refresh": "not-a-token"}, format="json").status_code == 401


def test_tokens_name_their_issuer_and_audience_and_others_are_refused(ada):
    _, tokens = sign_in(tenant="acme")
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    assert claims["iss"] == settings.SIMPLE_JWT["ISSUER"] and claims["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
    assert claims["tenant"] == "acme"

    for change in ({"aud": "another-service"}, {"iss": "someone-else"}):
        forged = jwt.encode({**claims, **change}, settings.SECRET_KEY, algorithm="HS256")
        assert bearer(forged).get("/api/me").status_code == 401, change
