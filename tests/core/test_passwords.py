"""Passwords: Django's validators wherever one is set, and Argon2id for what is stored (the test settings
hash with MD5 for speed, so the production list is checked here as configured)."""

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.core.management import CommandError, call_command
from django.test import override_settings

from config.settings import base
from core import services
from core.errors import Invalid

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("password, complaint", [
    ("short1x", "too short"),
    ("password1234", "too common"),
    ("4815162342123", "entirely numeric"),
    ("margaret-hamilton", "too similar"),
])
def test_a_weak_password_is_refused_with_the_reason_and_changes_nothing(password, complaint):
    with pytest.raises(Invalid) as refused:
        services.user_upsert(username="margaret-hamilton", password=password, tenant_slug="acme", role="submitter")
    assert any(complaint in message for message in refused.value.details["password"])
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="margaret-hamilton").exists()


def test_the_cli_says_why_it_refused_a_password():
    with pytest.raises(CommandError, match="too common"):
        call_command("emma_user", username="ada", password="password1234", tenant="acme")


def test_passwords_are_stored_with_argon2_and_older_hashes_still_work():
    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        stored = make_password("correct-horse-battery-staple")
        assert identify_hasher(stored).algorithm == "argon2" and stored.startswith("argon2$argon2id$")
        assert check_password("correct-horse-battery-staple", stored)
        older = make_password("correct-horse-battery-staple", hasher="pbkdf2_sha256")
        assert check_password("correct-horse-battery-staple", older)
