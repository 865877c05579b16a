"""The admin's members and API keys screens: a tenant's admins see their own tenant's, change roles, remove
members and revoke keys through the same services as the API (the last admin stays; everything audited)."""

import pytest
from django.test import Client

from core import services
from core.models import APIKey, Membership
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def act(client, url, action, *ids):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in ids]}, follow=True)


def a_key(team, name="ci"):
    tenant = team.admin.memberships.get().tenant
    return services.api_key_create(tenant=tenant, created_by=team.admin, name=name, role="submitter")[0]


def test_tenant_admins_change_roles_and_remove_members_of_their_tenant_only(acme, globex):
    client = signed_in(acme.admin)
    page = client.get("/admin/core/membership/").content.decode()
    assert "acme-submitter" in page and "globex-submitter" not in page
    submitter = acme.submitter.memberships.get()
    assert client.get(f"/admin/core/membership/{submitter.pk}/change/").status_code == 200
    act(client, "/admin/core/membership/", "make_approver", submitter.pk)
    submitter.refresh_from_db()
    assert submitter.role == "approver"
    assert AuditEvent.objects.filter(action="member.role_changed", actor="acme-admin").exists()

    outsider = globex.submitter.memberships.get()
    act(client, "/admin/core/membership/", "remove_from_tenant", outsider.pk)
    assert Membership.objects.filter(pk=outsider.pk).exists()  # not in acme's list: not acted on

    act(client, "/admin/core/membership/", "remove_from_tenant", submitter.pk)
    assert not Membership.objects.filter(pk=submitter.pk).exists()


def test_the_admin_keeps_the_last_admin_and_says_why(acme):
    client = signed_in(acme.admin)
    own = acme.admin.memberships.get()
    page = act(client, "/admin/core/membership/", "make_submitter", own.pk).content.decode()
    assert "last admin" in page
    own.refresh_from_db()
    assert own.role == "admin"


def test_approvers_do_not_manage_members(acme):
    client = signed_in(acme.approver)
    assert client.get("/admin/core/membership/").status_code == 403
    assert client.get("/admin/core/apikey/").status_code == 403


def test_tenant_admins_list_and_revoke_their_keys(acme, globex):
    ours, theirs = a_key(acme), a_key(globex, name="globex-ci")
    client = signed_in(acme.admin)
    page = client.get("/admin/core/apikey/").content.decode()
    assert ours.prefix in page and theirs.prefix not in page
    assert client.get(f"/admin/core/apikey/{ours.pk}/change/").status_code == 200
    assert client.get(f"/admin/core/apikey/{theirs.pk}/change/").status_code in (302, 403, 404)
    page = act(client, "/admin/core/apikey/", "revoke", ours.pk, theirs.pk).content.decode()
    assert "Revoked 1 of 1" in page
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.revoked and ours.revoked_by == acme.admin and not theirs.revoked
    assert not APIKey.objects.get(pk=ours.pk).user.is_active
