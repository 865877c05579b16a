"""Sign-in attempts are limited per account and per client address (django-axes): the lockout answers
the same whether the account exists, holds against the right password, and expires."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def sign_in(username, password, address="10.0.0.1"):
    return APIClient(REMOTE_ADDR=address).post("/api/auth/token", {"username": username, "password": password},
                                               format="json")


def fail(username, times, **address):
    """`times` failed sign-ins: the last of AXES_FAILURE_LIMIT is itself answered with the lockout."""
    return [sign_in(username, "wrong", **(address or {"address": f"10.0.1.{n}"})).status_code for n in range(times)]


def test_an_account_is_locked_after_its_failures_even_for_the_right_password(make_user):
    make_user(username="ada")
    limit = settings.AXES_FAILURE_LIMIT
    assert fail("ada", limit) == [401] * (limit - 1) + [429]  # from a new address each time
    locked = sign_in("ada", PASSWORD, address="10.0.2.1")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


def test_a_locked_name_that_has_no_account_answers_the_same(make_user):
    limit = settings.AXES_FAILURE_LIMIT
    assert fail("nobody", limit) == [401] * (limit - 1) + [429]
    locked = sign_in("nobody", "wrong", address="10.0.2.1")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"


def test_an_address_is_locked_after_failures_across_accounts(make_user):
    make_user(username="ada")
    limit = settings.AXES_FAILURE_LIMIT
    answers = [sign_in(f"guess-{n}", "wrong").status_code for n in range(limit)]
    assert answers == [401] * (limit - 1) + [429]
    assert sign_in("ada", PASSWORD).status_code == 429  # same address
    assert sign_in("ada", PASSWORD, address="10.9.9.9").status_code == 200  # another address, a good account


def test_a_lockout_expires(make_user):
    make_user(username="ada")
    fail("ada", settings.AXES_FAILURE_LIMIT)
    assert sign_in("ada", PASSWORD, address="10.0.3.1").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time
                                 - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in("ada", PASSWORD, address="10.0.3.2").status_code == 200


def test_the_admin_sign_in_form_is_limited_too(make_user):
    from django.test import Client

    make_user(username="ada", role="approver")
    client = Client(REMOTE_ADDR="10.0.7.1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/admin/login/", {"username": "ada", "password": "wrong"}).status_code == 200
    assert client.post("/admin/login/", {"username": "ada", "password": "wrong"}).status_code == 429
    locked = client.post("/admin/login/", {"username": "ada", "password": PASSWORD})
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
