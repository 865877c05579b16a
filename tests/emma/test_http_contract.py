"""The HTTP contract every endpoint keeps: JSON errors, auth, throttling, payload limits. Every route
without a token, with each kind of invalid token, and as each role: tests/test_authorization_matrix.py;
bodies over the limit, malformed and hostile JSON on every write: tests/test_hostile_input.py."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_token_obtained_with_a_password_opens_the_api(api_client, make_user):
    make_user(username="alice", tenant="acme", role="approver")
    response = api_client.post("/api/auth/token", {"username": "alice", "password": "correct-horse-battery"},
                               format="json")
    assert response.status_code == 200
    tokens = response.json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/me").json()
    assert me == {"username": "alice", "tenant": "acme", "role": "approver",
                  "memberships": [{"tenant": "acme", "tenant_name": "acme", "role": "approver"}]}
    refreshed = api_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200 and refreshed.json()["access"] and refreshed.json()["tenant"] == "acme"


def test_wrong_password_is_a_401_json_error(api_client, make_user):
    make_user(username="alice")
    response = api_client.post("/api/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert_error(response, 401)


def test_missing_field_is_named(api_client):
    error = assert_error(api_client.post("/api/auth/token", {"username": "x"}, format="json"), 400,
                         "validation_error")
    assert "password" in error["details"]


def test_unknown_url_and_wrong_method_are_json(api_client, client_for, make_user):
    assert_error(api_client.get("/api/no-such-thing"), 404, "not_found")
    assert_error(client_for(make_user()).delete("/api/me"), 405, "method_not_allowed")


def test_user_without_tenant_is_refused(api_client, db):
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.create_user("loner", password="correct-horse-battery")
    error = assert_error(api_client.post("/api/auth/token", {"username": "loner", "password": "correct-horse-battery"},
                                         format="json"), 400, "validation_error")
    assert "no tenant" in error["details"]["tenant"][0]
    # A token that names no tenant (not one Emma makes) opens nothing.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    assert_error(api_client.get("/api/me"), 401)
    assert_error(api_client.get("/api/task-types"), 401)


@override_settings(RATE_LIMIT_PER_MIN=3)
def test_requests_over_the_rate_limit_get_429_with_retry_after(client_for, make_user):
    client = client_for(make_user())
    for _ in range(3):
        assert client.get("/api/me").status_code == 200
    response = client.get("/api/me")
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after_seconds"] >= 1
    # Another user has a budget of their own.
    assert client_for(make_user(username="bob")).get("/api/me").status_code == 200


def test_openapi_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200


def test_cors_allows_only_configured_origins(api_client):
    with override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"]):
        allowed = api_client.options("/api/me", HTTP_ORIGIN="https://app.example.com",
                                     HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
        refused = api_client.options("/api/me", HTTP_ORIGIN="https://evil.example.com",
                                     HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in refused


def test_the_openapi_schema_is_valid_and_names_every_component_once(tmp_path):
    """drf-spectacular warns of two serializers sharing a component name (one would shadow the other)."""
    from django.core.management import call_command

    call_command("spectacular", "--file", str(tmp_path / "schema.yaml"), "--validate", "--fail-on-warn")


@pytest.mark.django_db
def test_a_database_outage_is_a_503_with_retry_after_never_a_500(acme, monkeypatch):
    """What PostgreSQL restarting looks like to a view: the driver's OperationalError."""
    from django.db import OperationalError

    from emma import services

    def database_gone(**kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "task_submit", database_gone)

    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo"}, format="json")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_unavailable"


def test_the_schema_documents_every_operations_errors_and_each_task_types_parameters(api_client):
    """The full check is tests/test_schema_fuzz.py (slow); this one is quick."""
    from emma import registry

    schema = api_client.get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            security = operation.get("security") or []
            if security and {} not in security:
                assert {"401", "403", "429"} <= documented, (method, path)
            elif security:  # a token is optional (POST /api/auth/accept-invite), and an invalid one a 401
                assert {"401", "429"} <= documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= documented, (method, path)
            for status in documented - {"200", "201", "202", "204"}:
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    shapes = schema["components"]["schemas"]["TaskSubmitInputRequest"]["oneOf"]
    on_offer = {spec.name: spec.schema for spec in registry.all_types()
                if not spec.unavailable_reason() and not spec.submitted_through}
    assert {shape["properties"]["task_type"]["const"]: shape["properties"]["parameters"] for shape in shapes} == {
        name: parameters if parameters.get("required") else {**parameters, "default": {}}
        for name, parameters in on_offer.items()}
