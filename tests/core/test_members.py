"""A tenant's admins manage its members: list them, change a role (it applies to the member's next request,
with the token they already have), and remove one, which stops their access and refresh tokens and the API
keys they created at once. The tenant's last admin can be neither demoted nor removed."""

import pytest
from rest_framework.test import APIClient

from core.models import APIKey, Membership
from governance.models import AuditEvent
from tests.conftest import refresh_for

pytestmark = pytest.mark.django_db


def membership_id(user, tenant="acme") -> int:
    return Membership.objects.get(user=user, tenant__slug=tenant).pk


def test_admins_list_their_tenants_members_only(acme, globex):
    response = acme.admin_api.get("/api/members")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["username"], row["role"]) for row in rows] == [
        ("acme-admin", "admin"), ("acme-approver", "approver"), ("acme-submitter", "submitter")]
    assert {"id", "email", "joined", "last_login"} <= set(rows[0])
    assert acme.submitter_api.get("/api/members").status_code == 403
    assert acme.approver_api.get("/api/members").status_code == 403


def test_a_role_change_applies_to_the_members_next_request_with_the_same_token(acme):
    assert acme.submitter_api.get("/api/audit").status_code == 403
    response = acme.admin_api.patch(f"/api/members/{membership_id(acme.submitter)}", {"role": "admin"},
                                    format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert acme.submitter_api.get("/api/audit").status_code == 200
    acme.submitter.refresh_from_db()
    assert acme.submitter.is_staff
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.actor == "acme-admin" and event.before["role"] == "submitter" and event.after["role"] == "admin"


def test_demoting_to_submitter_drops_staff(acme):
    response = acme.admin_api.patch(f"/api/members/{membership_id(acme.approver)}", {"role": "submitter"},
                                    format="json")
    assert response.status_code == 200
    acme.approver.refresh_from_db()
    assert not acme.approver.is_staff


def test_the_last_admin_can_be_neither_demoted_nor_removed(acme):
    own = membership_id(acme.admin)
    demoted = acme.admin_api.patch(f"/api/members/{own}", {"role": "approver"}, format="json")
    assert demoted.status_code == 409 and "last admin" in demoted.json()["error"]["message"]
    assert acme.admin_api.delete(f"/api/members/{own}").status_code == 409
    assert Membership.objects.get(pk=own).role == "admin"
    # With a second admin, either may step down.
    acme.admin_api.patch(f"/api/members/{membership_id(acme.approver)}", {"role": "admin"}, format="json")
    assert acme.admin_api.patch(f"/api/members/{own}", {"role": "approver"}, format="json").status_code == 200


def test_removing_a_member_stops_their_tokens_and_keys_at_once(acme, make_user, client_for):
    colleague = make_user(username="acme-admin-2", tenant="acme", role="admin")
    colleague_api = client_for(colleague)
    refresh = str(refresh_for(colleague))
    key = colleague_api.post("/api/api-keys", {"name": "ci", "role": "submitter"}, format="json").json()
    key_api = APIClient()
    key_api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key['key']}")
    assert key_api.get("/api/tasks").status_code == 200

    assert acme.admin_api.delete(f"/api/members/{membership_id(colleague)}").status_code == 204

    assert colleague_api.get("/api/tasks").status_code == 401  # the access token they hold
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
    assert refreshed.status_code == 401
    assert key_api.get("/api/tasks").status_code == 401  # the key they created
    assert APIKey.objects.get(pk=key["id"]).revoked
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    assert BlacklistedToken.objects.filter(token__user=colleague).exists()
    colleague.refresh_from_db()
    assert not colleague.is_staff
    event = AuditEvent.objects.get(action="member.removed")
    assert event.before == {"username": "acme-admin-2", "role": "admin"} and event.after["api_keys_revoked"] == 1


def test_removing_a_member_keeps_their_other_tenants(make_user, client_for):
    boss_api = client_for(make_user(username="acme-boss", tenant="acme", role="admin"))
    make_user(username="ada", tenant="acme", role="approver")
    ada = make_user(username="ada", tenant="globex", role="approver")
    globex_refresh = str(refresh_for(ada, tenant="globex"))
    assert boss_api.delete(f"/api/members/{membership_id(ada)}").status_code == 204
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": globex_refresh}, format="json")
    assert refreshed.status_code == 200
    ada.refresh_from_db()
    assert ada.is_staff  # still an approver in globex


def test_another_tenants_member_is_not_found(acme, globex):
    target = membership_id(globex.submitter, "globex")
    assert acme.admin_api.patch(f"/api/members/{target}", {"role": "admin"}, format="json").status_code == 404
    assert acme.admin_api.delete(f"/api/members/{target}").status_code == 404
    assert Membership.objects.get(pk=target).role == "submitter"


def test_an_unknown_role_is_a_400(acme):
    response = acme.admin_api.patch(f"/api/members/{membership_id(acme.submitter)}", {"role": "owner"},
                                    format="json")
    assert response.status_code == 400 and "role" in response.json()["error"]["details"]


def test_a_demoted_admin_keeps_no_key_that_outranks_them(acme):
    """The keys a member created keep at most the member's new role: a demoted admin's admin key would keep
    what the demotion took."""
    from core import services

    acme.admin_api.patch(f"/api/members/{membership_id(acme.approver)}", {"role": "admin"}, format="json")
    tenant = Membership.objects.get(pk=membership_id(acme.admin)).tenant
    keys = {role: services.api_key_create(tenant=tenant, created_by=acme.admin, name=role, role=role)[0]
            for role in ("submitter", "approver", "admin")}
    response = acme.approver_api.patch(f"/api/members/{membership_id(acme.admin)}", {"role": "approver"},
                                       format="json")
    assert response.status_code == 200
    assert {role: APIKey.objects.get(pk=key.pk).revoked for role, key in keys.items()} == {
        "submitter": False, "approver": False, "admin": True}
    assert AuditEvent.objects.get(action="member.role_changed", before__role="admin").after["api_keys_revoked"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin_and_no_error(acme):
    from tests.conftest import run_concurrently

    acme.admin_api.patch(f"/api/members/{membership_id(acme.approver)}", {"role": "admin"}, format="json")
    pairs = [(acme.admin_api, membership_id(acme.approver)), (acme.approver_api, membership_id(acme.admin))]
    statuses = run_concurrently(lambda pair: pair[0].patch(f"/api/members/{pair[1]}", {"role": "approver"},
                                                           format="json").status_code, pairs)
    assert sorted(statuses) in ([200, 403], [200, 409]), statuses
    assert Membership.objects.filter(tenant__slug="acme", role="admin").count() == 1
