"""Open sign-up (EMMA_SIGNUP=open): a new tenant and its first admin, inactive until the email is verified;
by invitation only (the default), register is refused. No answer tells whether an email has an account."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core import accounts
from core.models import EmailAddress, Membership, Tenant
from tests.core.people import PASSWORD, anonymous, link_in
from tests.surface import row_counts

pytestmark = pytest.mark.django_db

BODY = {"email": "Ada@Example.com", "password": PASSWORD, "tenant_name": "Analytical Engines"}


@pytest.fixture
def open_signup(settings):
    settings.EMMA_SIGNUP = "open"


def register(sent, **body):
    with sent() as outbox:
        response = anonymous().post("/api/auth/register", {**BODY, **body}, format="json")
    return response, list(outbox)


def test_register_is_refused_when_sign_up_is_by_invitation(sent):
    before = row_counts()
    response, outbox = register(sent)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signup_closed"
    assert row_counts() == before and outbox == []


def test_open_sign_up_makes_a_tenant_and_its_admin_inactive_until_the_email_is_verified(open_signup, sent):
    response, [mail] = register(sent)
    assert response.status_code == 202
    ada = get_user_model().objects.get(username="ada@example.com")
    assert not ada.is_active and ada.email == "Ada@example.com"
    membership = Membership.objects.get(user=ada)
    assert membership.role == "admin" and membership.tenant.slug == "analytical-engines"
    assert membership.tenant.name == "Analytical Engines"
    assert anonymous().post("/api/auth/token", {"username": "ada@example.com", "password": PASSWORD},
                            format="json").status_code == 401
    assert mail.to == ["Ada@example.com"] and "Confirm" in mail.subject
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    verified = anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json")
    assert verified.status_code == 200, verified.content
    assert verified.json()["tenant"] == "analytical-engines"
    ada.refresh_from_db()
    assert ada.is_active and EmailAddress.objects.get(user=ada).verified_at is not None
    client = anonymous()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {verified.json()['access']}")
    assert client.get("/api/me").json()["role"] == "admin"
    events = client.get("/api/audit").json()["results"]
    assert {"account.signed_up", "account.email_verified"} <= {event["action"] for event in events}
    assert anonymous().post("/api/auth/token", {"username": "ada@example.com", "password": PASSWORD},
                            format="json").status_code == 200


def test_a_verification_link_works_once(open_signup, sent):
    _, [mail] = register(sent)
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    assert anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json").status_code == 200
    again = anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "link_not_valid"


def test_a_tampered_or_expired_verification_key_is_refused_the_same_way(open_signup, sent, settings):
    _, [mail] = register(sent)
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    tampered = anonymous().post("/api/auth/verify-email", {"key": key[:-2] + "xx", "password": PASSWORD}, format="json")
    settings.EMAIL_VERIFICATION_DAYS = -1  # every key is older than that
    expired = anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json")
    assert tampered.status_code == expired.status_code == 400
    assert tampered.json() == expired.json()
    assert not get_user_model().objects.get(username="ada@example.com").is_active


def test_a_deactivated_account_cannot_reactivate_itself_with_its_old_link(open_signup, sent):
    _, [mail] = register(sent)
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    assert anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json").status_code == 200
    get_user_model().objects.filter(username="ada@example.com").update(is_active=False)
    assert anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json").status_code == 400
    assert not get_user_model().objects.get(username="ada@example.com").is_active


def test_a_taken_tenant_name_gets_the_next_free_slug(open_signup, sent, make_user):
    make_user(tenant="analytical-engines")
    Tenant.objects.create(slug="analytical-engines-2", name="Other")
    response, _ = register(sent)
    assert response.status_code == 202
    assert Membership.objects.get(user__username="ada@example.com").tenant.slug == "analytical-engines-3"


def test_registering_an_email_that_has_an_account_answers_the_same_and_mails_its_owner(open_signup, sent,
                                                                                      make_user):
    first, [verification] = register(sent, email="ada@example.com")
    key = link_in(verification.body, "/verify-email/").rsplit("/", 1)[1]
    assert anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json").status_code == 200
    before = row_counts()
    again, [mail] = register(sent, email="ADA@example.com", tenant_name="Another Co")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert row_counts() == before  # no second account or tenant
    assert "already have an account" in mail.subject and "/api/auth/password-reset" in mail.body
    # An account made another way (an invitation) with this email: the same.
    grace = make_user(username="grace")
    grace.email = "grace@example.com"
    grace.save()
    theirs, [mail] = register(sent, email="grace@example.com")
    assert (theirs.status_code, theirs.json()) == (first.status_code, first.json())
    assert mail.to == ["grace@example.com"] and "already have an account" in mail.subject


def test_a_weak_password_is_refused_whether_or_not_the_email_has_an_account(open_signup, sent):
    register(sent, email="ada@example.com")
    taken, _ = register(sent, email="ada@example.com", password="password")
    free, _ = register(sent, email="nobody@example.com", password="password")
    assert taken.status_code == free.status_code == 400
    assert taken.json() == free.json()


def test_open_sign_up_needs_a_valid_email_and_a_name(open_signup, sent):
    response, outbox = register(sent, email="not-an-email", tenant_name="")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"email", "tenant_name"} and outbox == []


def test_the_verification_page_activates_the_account_from_a_browser(open_signup, sent):
    _, [mail] = register(sent)
    path = link_in(mail.body, "/verify-email/")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)  # a mail scanner that follows the link changes nothing
    assert page.status_code == 200
    assert not get_user_model().objects.get(username="ada@example.com").is_active
    token = page.cookies["csrftoken"].value
    wrong = browser.post(path, {"csrfmiddlewaretoken": token, "password": "not-the-sign-ups-password"})
    assert wrong.status_code == 400 and not get_user_model().objects.get(username="ada@example.com").is_active
    done = browser.post(path, {"csrfmiddlewaretoken": token, "password": PASSWORD})
    assert done.status_code == 200 and "Email confirmed" in done.content.decode()
    assert get_user_model().objects.get(username="ada@example.com").is_active
    assert browser.get(path).status_code == 410


def test_the_verification_key_names_its_address(open_signup, sent, make_user):
    """A key made for one address does not verify another of the same account."""
    _, [mail] = register(sent)
    ada = get_user_model().objects.get(username="ada@example.com")
    forged = accounts.email_verification_key(ada, "someone-else@example.com")
    response = anonymous().post("/api/auth/verify-email", {"key": forged, "password": PASSWORD}, format="json")
    assert response.status_code == 400 and not get_user_model().objects.get(pk=ada.pk).is_active


def test_signing_up_again_before_verifying_mails_the_link_again_with_the_new_password(open_signup, sent):
    """A stranger who signed up with someone's address first holds nothing once its owner signs up and
    follows the link: the password is the last sign-up's, and no second tenant or account is made."""
    register(sent, password="the-strangers-passphrase-1")
    tenants = Tenant.objects.count()
    response, [mail] = register(sent)
    assert response.status_code == 202 and "Confirm" in mail.subject
    assert Tenant.objects.count() == tenants and get_user_model().objects.filter(email__iexact=BODY["email"]).count() == 1
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    assert anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json").status_code == 200
    sign_in = {"username": "ada@example.com"}
    assert anonymous().post("/api/auth/token", {**sign_in, "password": "the-strangers-passphrase-1"},
                            format="json").status_code == 401
    assert anonymous().post("/api/auth/token", {**sign_in, "password": PASSWORD}, format="json").status_code == 200


def test_a_username_that_is_someone_elses_address_does_not_block_its_owners_sign_up(open_signup, sent, make_user):
    make_user(username="ada@example.com", tenant="initech")  # a username is any text; this one is not Ada's
    response, [mail] = register(sent)
    assert response.status_code == 202 and "Confirm" in mail.subject
    ada = get_user_model().objects.get(email__iexact="ada@example.com")
    assert ada.username == "ada@example.com-2" and "ada@example.com-2" in mail.body


def test_an_address_longer_than_a_username_is_a_400_naming_it(open_signup, sent):
    before = row_counts()
    response, outbox = register(sent, email=f"{'a' * 64}@{'b' * 80}.example.com")
    assert response.status_code == 400 and "email" in response.json()["error"]["details"]
    assert row_counts() == before and outbox == []


def test_only_whoever_signed_up_can_activate_the_account_from_its_link(open_signup, sent):
    """A stranger signs up with Ada's address; Ada follows the unsolicited link: without the stranger's
    password she cannot activate it, so the stranger never holds a verified account under her address."""
    _, [mail] = register(sent, password="the-strangers-passphrase-1")
    key = link_in(mail.body, "/verify-email/").rsplit("/", 1)[1]
    refused = anonymous().post("/api/auth/verify-email", {"key": key, "password": PASSWORD}, format="json")
    assert refused.status_code == 400 and "password" in refused.json()["error"]["details"]
    assert not get_user_model().objects.get(username="ada@example.com").is_active
    assert not EmailAddress.objects.filter(verified_at__isnull=False).exists()
