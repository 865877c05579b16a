"""API keys: a tenant admin creates one (the key is shown once, only its hash is kept); a machine sends it as
`Authorization: Api-Key <key>` and acts in the key's tenant with the key's role, as `key:<prefix>` in every
record; revoked, expired or wrong keys get the same 401; a key limited to some task types submits only
those; a key has its own rate limit; and a key manages neither keys nor members, nor decides escalations."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core import services
from core.models import APIKey, Invitation
from emma.models import AgentTask, TaskEvent
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def create_key(team, **body) -> dict:
    response = team.admin_api.post("/api/api-keys", {"name": "ci", "role": "submitter", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def submit(client, task_type="diagnostic.echo", **body):
    return client.post("/api/tasks", {"task_type": task_type, **body}, format="json")


def assert_key_refused(response):
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["code"] == "api_key_not_valid"
    assert error["message"] == "This API key is not valid: it is unknown, revoked or expired."


def test_a_key_is_shown_once_and_only_its_hash_is_kept(acme):
    created = create_key(acme)
    key = created["key"]
    assert key.startswith(f"emma_{created['prefix']}.") and len(key) > 40
    stored = APIKey.objects.get(pk=created["id"])
    assert key not in stored.hashed_key and stored.hashed_key.startswith("sha512$$")
    listed = acme.admin_api.get("/api/api-keys").json()["results"]
    assert [row["prefix"] for row in listed] == [created["prefix"]]
    assert "key" not in listed[0] and listed[0]["status"] == "active" and listed[0]["created_by"] == "acme-admin"
    audit = AuditEvent.objects.get(action="api_key.created")
    assert audit.actor == "acme-admin" and audit.after["prefix"] == created["prefix"] and key not in str(audit.after)


def test_a_key_submits_tasks_and_everything_it_does_is_recorded_as_the_key(acme):
    created = create_key(acme)
    client = key_client(created["key"])
    response = submit(client, parameters={"text": "from CI"})
    assert response.status_code == 202, response.content
    task = AgentTask.objects.get(pk=response.json()["task_id"])
    actor = f"key:{created['prefix']}"
    assert task.submitter.username == actor and task.tenant_id == acme.tenant_id
    assert TaskEvent.objects.filter(task=task, actor=actor).exists()
    assert AuditEvent.objects.filter(action="task.submitted", object_id=str(task.pk), actor=actor).exists()
    assert client.get(f"/api/tasks/{task.pk}").status_code == 200
    me = client.get("/api/me").json()
    assert me == {"username": actor, "tenant": "acme", "role": "submitter", "memberships": []}


def test_a_key_is_nobodys_member_and_never_staff(acme):
    created = create_key(acme, role="admin")
    user = APIKey.objects.get(pk=created["id"]).user
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert not user.memberships.exists()
    members = acme.admin_api.get("/api/members").json()["results"]
    assert f"key:{created['prefix']}" not in [row["username"] for row in members]


def test_a_revoked_key_gets_401_on_its_next_call_and_revoking_again_is_harmless(acme):
    created = create_key(acme)
    client = key_client(created["key"])
    assert submit(client).status_code == 202
    assert acme.admin_api.delete(f"/api/api-keys/{created['id']}").status_code == 204
    assert_key_refused(submit(client))
    assert_key_refused(client.get("/api/tasks"))
    assert acme.admin_api.delete(f"/api/api-keys/{created['id']}").status_code == 204
    assert AuditEvent.objects.filter(action="api_key.revoked", object_id=str(created["id"])).count() == 1
    listed = acme.admin_api.get("/api/api-keys").json()["results"][0]
    assert listed["status"] == "revoked" and listed["revoked_at"]


def test_an_expired_key_gets_401(acme):
    created = create_key(acme, expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    client = key_client(created["key"])
    assert client.get("/api/tasks").status_code == 200
    APIKey.objects.filter(pk=created["id"]).update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert_key_refused(client.get("/api/tasks"))


def test_a_key_cannot_be_created_already_expired(acme):
    response = acme.admin_api.post("/api/api-keys", {"name": "ci", "role": "submitter",
                                                     "expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400 and "expires_at" in response.json()["error"]["details"]
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("mangle", [
    lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # the right prefix, a wrong secret
    lambda key: key.replace("emma_", "", 1),  # the library's form, without Emma's mark
    lambda key: "emma_nosuchpf.secret",
    lambda key: "emma_" + "x" * 500,
    lambda key: key.replace("emma_", "emma_\x00", 1),  # PostgreSQL cannot even be asked about a NUL
    lambda key: key.replace("emma_", "emma_é", 1),
    lambda key: "",
])
def test_a_wrong_key_gets_the_same_401(acme, mangle):
    created = create_key(acme)
    response = key_client(mangle(created["key"])).get("/api/tasks")
    if mangle(created["key"]) == "":
        assert response.status_code == 401  # "Api-Key " with nothing: no credentials at all
    else:
        assert_key_refused(response)


def test_a_key_limited_to_some_task_types_may_submit_only_those(acme):
    created = create_key(acme, task_types=["diagnostic.echo"])
    client = key_client(created["key"])
    assert submit(client).status_code == 202
    refused = submit(client, task_type="diagnostic.sleep", parameters={"seconds": 0})
    assert refused.status_code == 403, refused.content
    error = refused.json()["error"]
    assert "diagnostic.echo" in error["message"] and error["details"]["allowed_task_types"] == ["diagnostic.echo"]
    batch = client.post("/api/tasks/batch", {"tasks": [{"task_type": "diagnostic.echo"},
                                                       {"task_type": "diagnostic.sleep", "parameters": {"seconds": 0}}]}, format="json")
    assert batch.status_code == 403
    assert AgentTask.objects.count() == 1  # nothing of the refused submissions was stored


def test_a_key_can_only_be_limited_to_task_types_that_exist(acme):
    response = acme.admin_api.post("/api/api-keys", {"name": "ci", "role": "submitter",
                                                     "task_types": ["no.such.type"]}, format="json")
    assert response.status_code == 400 and "no.such.type" in str(response.json()["error"]["details"])
    assert not APIKey.objects.exists()


def test_a_key_has_its_own_rate_limit(acme, settings):
    settings.RATE_LIMIT_PER_MIN = 100
    client = key_client(create_key(acme, rate_limit_per_min=2)["key"])
    statuses = [client.get("/api/task-types").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert acme.submitter_api.get("/api/task-types").status_code == 200  # people keep their own limit


def test_last_use_is_recorded_once_a_minute_at_most(acme):
    created = create_key(acme)
    client = key_client(created["key"])
    client.get("/api/tasks", REMOTE_ADDR="10.1.2.3")
    key = APIKey.objects.get(pk=created["id"])
    assert key.last_used_at is not None and key.last_used_ip == "10.1.2.3"
    client.get("/api/tasks", REMOTE_ADDR="10.9.9.9")
    key.refresh_from_db()
    assert key.last_used_ip == "10.1.2.3"  # within the minute: not written again
    APIKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/tasks", REMOTE_ADDR="10.9.9.9")
    key.refresh_from_db()
    assert key.last_used_ip == "10.9.9.9"
    listed = acme.admin_api.get("/api/api-keys").json()["results"][0]
    assert listed["last_used_ip"] == "10.9.9.9" and listed["last_used_at"]


def test_a_key_cannot_manage_keys_members_or_invitations(acme):
    """Not even an admin key: an invitation it sent itself would make it a person with a password."""
    invitation = acme.admin_api.post("/api/invitations", {"email": "x@acme.example"}, format="json").json()
    client = key_client(create_key(acme, role="admin")["key"])
    for response in (client.get("/api/api-keys"),
                     client.post("/api/api-keys", {"name": "more", "role": "admin"}, format="json"),
                     client.get("/api/members"),
                     client.delete(f"/api/members/{acme.submitter.memberships.get().pk}"),
                     client.get("/api/invitations"),
                     client.post("/api/invitations", {"email": "eve@evil.example", "role": "admin"}, format="json"),
                     client.delete(f"/api/invitations/{invitation['id']}")):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["message"] == services.KEYS_MAY_NOT_MANAGE
    assert APIKey.objects.count() == 1 and acme.submitter.memberships.exists()
    assert list(Invitation.objects.values_list("email", "revoked_at")) == [("x@acme.example", None)]


def test_a_key_cannot_decide_escalations(acme):
    acme.set_policy(autonomy_level="supervised")
    escalation_id = acme.submit(estimated_cost=50)["escalation_id"]
    client = key_client(create_key(acme, role="approver")["key"])
    response = client.post(f"/api/escalations/{escalation_id}/approve", {"reason": "ok"}, format="json")
    assert response.status_code == 403, response.content
    assert "API key may not decide escalations" in response.json()["error"]["message"]
    assert acme.approver_api.post(f"/api/escalations/{escalation_id}/approve", {"reason": "ok"},
                                  format="json").status_code == 200


def test_another_tenants_key_sees_nothing_of_acme(acme, globex):
    task_id = acme.submit()["task_id"]
    acme_key = create_key(acme)
    client = key_client(create_key(globex, role="admin")["key"])
    assert client.get(f"/api/tasks/{task_id}").status_code == 404
    assert client.get("/api/tasks").json()["results"] == []
    assert globex.admin_api.delete(f"/api/api-keys/{acme_key['id']}").status_code == 404
    assert submit(key_client(acme_key["key"])).status_code == 202  # untouched


def test_a_key_cannot_get_itself_a_token(acme):
    client = key_client(create_key(acme, role="admin")["key"])
    response = client.post("/api/auth/switch-tenant", {"tenant": "acme"}, format="json")
    assert response.status_code == 400 and "access" not in response.json()


def test_only_tenant_admins_manage_keys(acme):
    for client in (acme.submitter_api, acme.approver_api):
        assert client.get("/api/api-keys").status_code == 403
        assert client.post("/api/api-keys", {"name": "ci", "role": "admin"}, format="json").status_code == 403
    assert not APIKey.objects.exists()
