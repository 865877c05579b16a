"""Password reset by email: the answer is the same for any address; the link works once, for
PASSWORD_RESET_TIMEOUT; a new password signs every device out (their refresh tokens die) and lifts the
account's sign-in lockout."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.core.people import NEW_PASSWORD, PASSWORD, anonymous, link_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(make_user):
    user = make_user(username="ada", tenant="acme", role="admin")
    make_user(username="ada", tenant="globex", role="submitter")
    user.email = "ada@example.com"
    user.save()
    return user


def request_reset(sent, email):
    with sent() as outbox:
        response = anonymous().post("/api/auth/password-reset", {"email": email}, format="json")
    return response, list(outbox)


def reset_link(sent, email="ada@example.com"):
    response, [mail] = request_reset(sent, email)
    assert response.status_code == 202
    uid, token = link_in(mail.body, "/reset-password/").split("/")[2:4]
    return uid, token


def confirm(uid, token, new_password=NEW_PASSWORD):
    return anonymous().post("/api/auth/password-reset/confirm",
                            {"uid": uid, "token": token, "new_password": new_password}, format="json")


def sign_in(username="ada", password=NEW_PASSWORD, tenant="acme", address="10.2.0.1"):
    return anonymous(address).post("/api/auth/token", {"username": username, "password": password,
                                                       "tenant": tenant}, format="json")


def test_the_answer_is_the_same_for_an_unknown_email_and_only_an_owner_gets_mail(ada, sent):
    known, mails = request_reset(sent, "ADA@example.com")
    unknown, none = request_reset(sent, "nobody@example.com")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (known.status_code,
                                                                                            known.json())
    assert known.status_code == 202
    assert [mail.to for mail in mails] == [["ada@example.com"]] and none == []
    assert "ada" in mails[0].body


def test_an_inactive_account_gets_no_reset_mail(ada, sent):
    get_user_model().objects.filter(pk=ada.pk).update(is_active=False)
    response, outbox = request_reset(sent, "ada@example.com")
    assert response.status_code == 202 and outbox == []


def test_a_reset_link_sets_the_password_once(ada, sent):
    uid, token = reset_link(sent)
    assert confirm(uid, token).status_code == 204
    assert sign_in().status_code == 200
    assert sign_in(password=PASSWORD, address="10.2.0.2").status_code == 401
    again = confirm(uid, token, new_password="yet-another-passphrase")
    assert again.status_code == 400
    assert again.json()["error"] == {"code": "link_not_valid", "details": {},
                                     "message": "This password reset link is not valid any more; ask for a new one."}
    assert sign_in(address="10.2.0.3").status_code == 200


def test_a_forged_or_expired_link_is_refused_the_same_way(ada, sent, settings):
    uid, token = reset_link(sent)
    forged = confirm(uid, token[:-3] + "abc")
    unknown_user = confirm("OTk5OTk5", token)
    garbage = confirm("!!", "x")
    settings.PASSWORD_RESET_TIMEOUT = -1
    expired = confirm(uid, token)
    assert {r.status_code for r in (forged, unknown_user, garbage, expired)} == {400}
    assert forged.json() == unknown_user.json() == garbage.json() == expired.json()
    assert sign_in(password=PASSWORD).status_code == 200


def test_a_weak_new_password_is_refused_and_the_link_still_works(ada, sent):
    uid, token = reset_link(sent)
    weak = confirm(uid, token, new_password="12345678")
    assert weak.status_code == 400 and weak.json()["error"]["details"]["password"]
    assert confirm(uid, token).status_code == 204


def test_old_refresh_tokens_die_after_a_reset(ada, sent):
    before = sign_in(password=PASSWORD).json()["refresh"]
    other_tenant = sign_in(password=PASSWORD, tenant="globex").json()["refresh"]
    uid, token = reset_link(sent)
    assert confirm(uid, token).status_code == 204
    for refresh in (before, other_tenant):
        response = anonymous().post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
        assert response.status_code == 401 and response.json()["error"]["code"] == "token_not_valid"
    fresh = sign_in().json()["refresh"]
    assert anonymous().post("/api/auth/token/refresh", {"refresh": fresh}, format="json").status_code == 200


def test_a_reset_lifts_the_sign_in_lockout(ada, sent):
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(password="wrong", address=f"10.3.0.{n}")
    assert sign_in(password=PASSWORD, address="10.3.1.1").status_code == 429
    uid, token = reset_link(sent)
    assert confirm(uid, token).status_code == 204
    assert sign_in(address="10.3.1.2").status_code == 200


def test_a_reset_is_audited_in_each_of_the_accounts_tenants(ada, sent, make_user, client_for):
    auditors = {tenant: client_for(make_user(username=f"{tenant}-auditor", tenant=tenant, role="admin"))
                for tenant in ("acme", "globex")}
    uid, token = reset_link(sent)
    assert confirm(uid, token).status_code == 204
    for tenant, auditor in auditors.items():
        events = auditor.get("/api/audit", {"action": "account.password_reset"}).json()["results"]
        assert [event["actor"] for event in events] == ["ada"], tenant


def test_the_reset_page_sets_the_password_from_a_browser(ada, sent):
    _, [mail] = request_reset(sent, "ada@example.com")
    path = link_in(mail.body, "/reset-password/")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)
    assert page.status_code == 200
    done = browser.post(path, {"new_password": NEW_PASSWORD, "csrfmiddlewaretoken": page.cookies["csrftoken"].value})
    assert done.status_code == 200 and "Password changed" in done.content.decode()
    assert sign_in().status_code == 200
    assert browser.get(path).status_code == 410


def test_the_public_account_endpoints_are_rate_limited_per_address(ada, settings):
    settings.ACCOUNT_RATE_LIMIT_PER_MIN = 3
    same_address = anonymous("10.5.0.1")
    answers = [same_address.post("/api/auth/password-reset", {"email": "ada@example.com"}, format="json")
               for _ in range(4)]
    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["error"]["code"] == "throttled" and int(answers[-1]["Retry-After"]) >= 1
    # The limit is shared by every account endpoint of that address, and is not another address's.
    assert same_address.post("/api/auth/verify-email", {"key": "x"}, format="json").status_code == 429
    assert anonymous("10.5.0.2").post("/api/auth/password-reset", {"email": "ada@example.com"},
                                      format="json").status_code == 202


def test_a_client_cannot_pick_the_address_its_limit_counts_on(ada, settings):
    """Without proxies in front (NUM_PROXIES=0), a client's own X-Forwarded-For is not its address."""
    settings.ACCOUNT_RATE_LIMIT_PER_MIN = 2
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    client = anonymous("10.5.0.3")
    statuses = [client.post("/api/auth/password-reset", {"email": "ada@example.com"}, format="json",
                            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(3)]
    assert statuses == [202, 202, 429]
