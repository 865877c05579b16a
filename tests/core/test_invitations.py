"""Invitations: a tenant admin invites someone by email; the link mailed to them works once, until it
expires, unless revoked, and makes a new account or joins one they have. Every refusal of a link reads the
same, whatever the reason."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from core import accounts
from core.errors import ApplicationError
from core.models import EmailAddress, Invitation, Membership
from tests.conftest import run_concurrently
from tests.core.people import NOT_VALID, PASSWORD, anonymous, link_in

pytestmark = pytest.mark.django_db


def invite(team, sent, email="grace@example.com", role="submitter"):
    """The admin's invitation, through the API; its token, from the email the invitee received."""
    with sent() as outbox:
        response = team.admin_api.post("/api/invitations", {"email": email, "role": role}, format="json")
    assert response.status_code == 201, response.content
    mails = [mail for mail in outbox if mail.to == [email]]
    assert len(mails) == 1
    return response.json(), link_in(mails[0].body, "/accept-invite/").rsplit("/", 1)[1]


def accept(token, client=None, **body):
    return (client or anonymous()).post("/api/auth/accept-invite", {"token": token, **body}, format="json")


def audit(team, action):
    response = team.admin_api.get("/api/audit", {"action": action})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def assert_not_valid(response):
    assert response.status_code == 400, response.content
    assert response.json()["error"] == {"code": "link_not_valid", "message": NOT_VALID, "details": {}}


def test_an_admin_invites_by_email_and_the_list_shows_the_status_never_the_token(acme, sent):
    created, token = invite(acme, sent, role="approver")
    assert created["status"] == "pending" and created["role"] == "approver"
    assert created["invited_by"] == acme.admin.username and created["link"].endswith(f"/accept-invite/{token}")
    listed = acme.admin_api.get("/api/invitations").json()["results"]
    assert [(item["email"], item["status"]) for item in listed] == [("grace@example.com", "pending")]
    assert token not in str(listed) and "link" not in listed[0]
    stored = Invitation.objects.get()
    assert token not in str(stored.__dict__)  # only its hash is kept
    [event] = audit(acme, "invitation.created")
    assert event["actor"] == acme.admin.username and event["after"]["email"] == "grace@example.com"


@pytest.mark.parametrize("role", ["submitter", "approver"])
def test_only_a_tenant_admin_may_invite(acme, role):
    client = acme.submitter_api if role == "submitter" else acme.approver_api
    response = client.post("/api/invitations", {"email": "grace@example.com"}, format="json")
    assert response.status_code == 403
    assert client.get("/api/invitations").status_code == 403
    assert not Invitation.objects.exists()


def test_another_tenants_admin_cannot_see_or_revoke_your_invitation(acme, globex, sent):
    created, token = invite(acme, sent)
    assert globex.admin_api.get("/api/invitations").json()["results"] == []
    response = globex.admin_api.delete(f"/api/invitations/{created['id']}")
    assert response.status_code == 404
    assert Invitation.objects.get().status == "pending"
    assert accept(token, username="grace", password=PASSWORD).status_code == 200


def test_accepting_makes_an_account_with_the_invitations_role_and_tokens_for_its_tenant(acme, sent):
    _, token = invite(acme, sent, role="approver")
    response = accept(token, username="grace", password=PASSWORD)
    assert response.status_code == 200, response.content
    pair = response.json()
    assert pair["tenant"] == "acme"
    grace = get_user_model().objects.get(username="grace")
    assert grace.is_active and grace.is_staff and grace.email == "grace@example.com"  # approvers decide in the admin
    assert Membership.objects.get(user=grace).role == "approver"
    assert EmailAddress.objects.get(user=grace).verified_at is not None
    me = anonymous().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {pair['access']}").json()
    assert me["username"] == "grace" and me["role"] == "approver"
    [item] = acme.admin_api.get("/api/invitations").json()["results"]
    assert item["status"] == "accepted" and item["accepted_by"] == "grace"
    [event] = audit(acme, "invitation.accepted")
    assert event["actor"] == "grace" and event["after"]["new_account"] is True
    # The new person signs in like anyone else.
    signed_in = anonymous().post("/api/auth/token", {"username": "grace", "password": PASSWORD}, format="json")
    assert signed_in.status_code == 200


def test_an_invitation_works_once(acme, sent):
    _, token = invite(acme, sent)
    assert accept(token, username="grace", password=PASSWORD).status_code == 200
    assert_not_valid(accept(token, username="mallory", password=PASSWORD))
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_an_expired_invitation_is_refused_like_an_unknown_one(acme, sent):
    _, token = invite(acme, sent)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_not_valid(accept(token, username="grace", password=PASSWORD))
    assert_not_valid(accept("a" * 43, username="grace", password=PASSWORD))
    assert acme.admin_api.get("/api/invitations").json()["results"][0]["status"] == "expired"
    assert not get_user_model().objects.filter(username="grace").exists()


def test_an_invitation_expires_after_the_configured_days(acme, sent, settings):
    settings.INVITATION_DAYS = 2
    invite(acme, sent)
    invitation = Invitation.objects.get()
    assert invitation.expires_at - invitation.created_at == pytest.approx(timedelta(days=2), abs=timedelta(seconds=5))


def test_a_revoked_invitation_is_refused(acme, sent):
    created, token = invite(acme, sent)
    assert acme.admin_api.delete(f"/api/invitations/{created['id']}").status_code == 204
    assert acme.admin_api.delete(f"/api/invitations/{created['id']}").status_code == 204  # again: no change
    assert_not_valid(accept(token, username="grace", password=PASSWORD))
    assert acme.admin_api.get("/api/invitations").json()["results"][0]["status"] == "revoked"
    assert len(audit(acme, "invitation.revoked")) == 1


def test_an_accepted_invitation_cannot_be_revoked(acme, sent):
    created, token = invite(acme, sent)
    assert accept(token, username="grace", password=PASSWORD).status_code == 200
    response = acme.admin_api.delete(f"/api/invitations/{created['id']}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"


def test_an_invitee_with_an_account_elsewhere_joins_with_it_and_switches_between_tenants(acme, globex, sent):
    grace = globex.submitter
    _, token = invite(acme, sent, email="grace@example.com", role="approver")
    response = accept(token, username=grace.username, password=PASSWORD)
    assert response.status_code == 200, response.content
    assert sorted(Membership.objects.filter(user=grace).values_list("tenant__slug", "role")) == [
        ("acme", "approver"), ("globex", "submitter")]
    assert get_user_model().objects.filter(username=grace.username).count() == 1
    in_acme = anonymous()
    in_acme.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    me = in_acme.get("/api/me").json()
    assert me["tenant"] == "acme" and {m["tenant"] for m in me["memberships"]} == {"acme", "globex"}
    switched = in_acme.post("/api/auth/switch-tenant", {"tenant": "globex"}, format="json")
    assert switched.status_code == 200 and switched.json()["tenant"] == "globex"
    in_globex = anonymous()
    in_globex.credentials(HTTP_AUTHORIZATION=f"Bearer {switched.json()['access']}")
    assert in_globex.get("/api/me").json()["role"] == "submitter"


def test_a_signed_in_invitee_joins_with_the_account_of_their_token(acme, globex, sent):
    _, token = invite(acme, sent)
    response = accept(token, client=globex.approver_api)
    assert response.status_code == 200, response.content
    assert Membership.objects.get(user=globex.approver, tenant__slug="acme").role == "submitter"


def test_neither_credentials_nor_a_token_is_refused_and_keeps_the_invitation(acme, sent):
    _, token = invite(acme, sent)
    response = accept(token)
    assert response.status_code == 400 and "username" in response.json()["error"]["details"]
    assert Invitation.objects.get().status == "pending"


def test_a_wrong_password_for_a_taken_username_is_refused_and_counts_toward_the_lockout(acme, globex, sent):
    _, token = invite(acme, sent)
    response = accept(token, username=globex.submitter.username, password="not-the-password")
    assert response.status_code == 400 and "password" in response.json()["error"]["details"]
    assert AccessAttempt.objects.filter(username=globex.submitter.username).exists()
    assert Invitation.objects.get().status == "pending"
    assert not Membership.objects.filter(user=globex.submitter, tenant__slug="acme").exists()


def test_a_weak_password_for_a_new_account_is_refused_and_keeps_the_invitation(acme, sent):
    _, token = invite(acme, sent)
    response = accept(token, username="grace", password="123456")
    assert response.status_code == 400 and response.json()["error"]["details"]["password"]
    assert Invitation.objects.get().status == "pending"
    assert accept(token, username="grace", password=PASSWORD).status_code == 200


def test_joining_a_tenant_you_already_belong_to_is_a_conflict_and_keeps_the_invitation(acme, sent):
    _, token = invite(acme, sent)
    response = accept(token, username=acme.submitter.username, password=PASSWORD)
    assert response.status_code == 409
    assert Invitation.objects.get().status == "pending"


def test_two_acceptances_at_once_make_one_member(transactional_db, acme):
    _, link = accounts.invitation_create(tenant=acme.admin.memberships.get().tenant, email="grace@example.com",
                                         role="submitter", invited_by=acme.admin)
    token = link.rsplit("/", 1)[1]

    def attempt(username):
        try:
            accounts.invitation_accept(token=token, username=username, password=PASSWORD)
            return "accepted"
        except ApplicationError as exc:
            return exc.code

    outcomes = run_concurrently(attempt, [f"grace-{n}" for n in range(4)])
    assert sorted(outcomes) == ["accepted", "link_not_valid", "link_not_valid", "link_not_valid"]
    assert Membership.objects.filter(tenant__slug="acme", user__username__startswith="grace-").count() == 1


# --- the page the emailed link opens ------------------------------------------------------------------


def test_a_person_accepts_in_the_browser_page_the_email_links_to(acme, sent):
    _, token = invite(acme, sent, role="approver")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/accept-invite/{token}")
    assert page.status_code == 200 and "Join acme" in page.content.decode()
    csrf = page.cookies["csrftoken"].value
    done = browser.post(f"/accept-invite/{token}", {"username": "grace", "password": PASSWORD,
                                                    "csrfmiddlewaretoken": csrf})
    assert done.status_code == 200 and "Done: you are now a member of acme" in done.content.decode()
    assert Membership.objects.get(user__username="grace").role == "approver"
    again = browser.get(f"/accept-invite/{token}")
    assert again.status_code == 410 and NOT_VALID in again.content.decode()


def test_the_page_refuses_a_post_without_its_csrf_token(acme, sent):
    _, token = invite(acme, sent)
    response = Client(enforce_csrf_checks=True).post(f"/accept-invite/{token}",
                                                     {"username": "grace", "password": PASSWORD})
    assert response.status_code == 403
    assert Invitation.objects.get().status == "pending"


def test_the_page_shows_a_bad_password_and_keeps_the_invitation(acme, sent):
    _, token = invite(acme, sent)
    response = Client().post(f"/accept-invite/{token}", {"username": "grace", "password": "short"})
    assert response.status_code == 400 and "too short" in response.content.decode()
    assert Invitation.objects.get().status == "pending"


# --- the admin --------------------------------------------------------------------------------------


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_tenant_admin_invites_from_the_admin_and_sees_the_link_once(acme, sent):
    client = admin_client(acme.admin)
    with sent() as outbox:
        response = client.post("/admin/core/invitation/add/", {"email": "grace@example.com", "role": "approver"},
                               follow=True)
    assert response.status_code == 200
    [mail] = outbox
    path = link_in(mail.body, "/accept-invite/")
    assert path in response.content.decode()  # shown in the message after sending
    invitation = Invitation.objects.get()
    assert invitation.tenant.slug == "acme" and invitation.invited_by == acme.admin
    changelist = client.get("/admin/core/invitation/").content.decode()
    assert "grace@example.com" in changelist and path not in changelist


def test_the_admin_shows_a_tenant_admin_only_their_tenants_invitations(acme, globex, sent):
    invite(acme, sent)
    assert "grace@example.com" not in admin_client(globex.admin).get("/admin/core/invitation/").content.decode()
    assert admin_client(acme.approver).get("/admin/core/invitation/").status_code == 403


def test_the_admin_revokes_invitations(acme, sent):
    _, token = invite(acme, sent)
    invitation = Invitation.objects.get()
    detail = admin_client(acme.admin).get(f"/admin/core/invitation/{invitation.pk}/change/")
    assert detail.status_code == 200 and "grace@example.com" in detail.content.decode()
    assert token not in detail.content.decode()
    response = admin_client(acme.admin).post("/admin/core/invitation/", {
        "action": "revoke", "_selected_action": [str(invitation.pk)]}, follow=True)
    assert response.status_code == 200
    assert_not_valid(accept(token, username="grace", password=PASSWORD))


def test_repeated_wrong_passwords_through_an_invitation_lock_the_account_out(acme, globex, sent, settings):
    _, token = invite(acme, sent)
    settings.ACCOUNT_RATE_LIMIT_PER_MIN = 100
    username = globex.submitter.username
    answers = [accept(token, client=anonymous(f"10.4.0.{n}"), username=username, password="wrong").status_code
               for n in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = accept(token, client=anonymous("10.4.1.1"), username=username, password=PASSWORD)
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"
    assert Invitation.objects.get().status == "pending"
