"""Encryption at rest: Fernet keys from EMMA_ENCRYPTION_KEYS, newest first (core/crypto.py), and the model
field that keeps its value encrypted with them (core/fields.py). Settings that hold a bad key, or production
settings that hold none, refuse to load, each in a fresh interpreter."""

import io
import subprocess
import sys
import traceback

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms import modelform_factory
from django.test.utils import CaptureQueriesContext

from core import crypto
from core.fields import encrypted_fields
from core.models import Tenant
from integrations.models import GitHubInstallation
from tests.conftest import ROOT

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_value_reads_back_and_the_token_is_not_the_value(settings):
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY]
    token = crypto.encrypt("ghs_secret-token")
    assert "ghs_secret-token" not in token
    assert crypto.decrypt(token) == "ghs_secret-token"
    assert Fernet(NEW_KEY).decrypt(token.encode()) == b"ghs_secret-token"


def test_a_value_under_an_old_key_reads_after_a_new_key_is_prepended(settings):
    settings.EMMA_ENCRYPTION_KEYS = [OLD_KEY]
    token = crypto.encrypt("ghs_old")
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert crypto.decrypt(token) == "ghs_old"
    assert not crypto.is_current(token)
    rotated = crypto.rotate(token)
    assert crypto.is_current(rotated) and Fernet(NEW_KEY).decrypt(rotated.encode()) == b"ghs_old"
    assert Fernet(NEW_KEY).decrypt(crypto.encrypt("ghs_new").encode()) == b"ghs_new"  # the first key encrypts


def test_a_value_no_key_opens_is_an_error_that_shows_neither_key_nor_value(settings):
    settings.EMMA_ENCRYPTION_KEYS = [OLD_KEY]
    token = crypto.encrypt("ghs_dropped")
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY]
    for operation in (crypto.decrypt, crypto.rotate):
        with pytest.raises(crypto.DecryptionError) as error:
            operation(token)
        assert "EMMA_ENCRYPTION_KEYS" in str(error.value)
        assert OLD_KEY not in str(error.value) and NEW_KEY not in str(error.value) and token not in str(error.value)


@pytest.mark.parametrize("keys", [
    ["not-a-fernet-key"],
    [NEW_KEY, NEW_KEY[:-8]],  # truncated
    [NEW_KEY[:10] + "!!" + NEW_KEY[12:]],  # garbled
    [NEW_KEY, "é" * 44],
    [],
    [" ", ""],
], ids=["not-base64", "truncated", "garbled", "not-ascii", "none", "blank"])
def test_wrong_or_garbled_keys_are_improperly_configured_naming_the_variable_not_the_key(settings, keys):
    settings.EMMA_ENCRYPTION_KEYS = keys
    with pytest.raises(ImproperlyConfigured) as error:
        crypto.encrypt("ghs_x")
    assert "EMMA_ENCRYPTION_KEYS" in str(error.value)
    shown = "".join(traceback.format_exception(error.value))  # what a log would hold, chained exceptions too
    assert not any(key.strip() and key in shown for key in keys)


def test_keys_are_read_stripped_and_checked():
    assert crypto.checked_keys([f" {NEW_KEY}", "", f"{OLD_KEY} "]) == [NEW_KEY, OLD_KEY]
    with pytest.raises(ImproperlyConfigured, match="key 2 of 2"):
        crypto.checked_keys([NEW_KEY, "garbage"])


def test_the_development_key_is_a_fernet_key_fixed_by_the_secret_key():
    key = crypto.development_key("insecure-development-key-change-me")
    assert key == crypto.development_key("insecure-development-key-change-me")
    assert key != crypto.development_key("another-secret")
    Fernet(key)


# --- settings, each in a fresh interpreter with nothing from this shell -------------------------------------

# Enough for settings to load: nothing connects to these services while settings are read.
MINIMAL = {"DATABASE_URL": "postgres://emma@localhost:5432/emma", "REDIS_URL": "redis://localhost:6379/0",
           "DJANGO_SECRET_KEY": "a-real-secret-of-some-length-0123456789", "DJANGO_ALLOWED_HOSTS": "emma.example.com"}
READ_KEYS = "from django.conf import settings; print(','.join(settings.EMMA_ENCRYPTION_KEYS))"


def settings_keys(module: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", READ_KEYS], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"DJANGO_SETTINGS_MODULE": f"config.settings.{module}", **MINIMAL, **env})


def test_production_settings_without_keys_refuse_to_load():
    result = settings_keys("production")
    assert result.returncode != 0
    assert "ImproperlyConfigured: EMMA_ENCRYPTION_KEYS must be set in production" in result.stderr


def test_production_settings_with_a_garbled_key_refuse_to_load_and_do_not_echo_it():
    garbled = NEW_KEY[:20] + "*" + NEW_KEY[21:-4]
    result = settings_keys("production", EMMA_ENCRYPTION_KEYS=f"{NEW_KEY},{garbled}")
    assert result.returncode != 0
    assert "ImproperlyConfigured: EMMA_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key" in result.stderr
    assert garbled not in result.stderr and NEW_KEY not in result.stderr


def test_production_settings_read_the_keys_newest_first():
    result = settings_keys("production", EMMA_ENCRYPTION_KEYS=f"{NEW_KEY}, {OLD_KEY}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"{NEW_KEY},{OLD_KEY}"


def test_local_settings_derive_a_key_from_the_secret_key_only_when_none_is_set():
    derived = settings_keys("local")
    assert derived.returncode == 0, derived.stderr[-2000:]
    assert derived.stdout.strip() == crypto.development_key(MINIMAL["DJANGO_SECRET_KEY"])
    given = settings_keys("local", EMMA_ENCRYPTION_KEYS=OLD_KEY)
    assert given.returncode == 0 and given.stdout.strip() == OLD_KEY


def test_test_settings_pin_a_key_whatever_the_shell_exports():
    result = settings_keys("test", EMMA_ENCRYPTION_KEYS=OLD_KEY)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "dGVzdC1vbmx5LWVtbWEtZW5jcnlwdGlvbi1rZXktMDE="


# --- EncryptedTextField (core/fields.py), on the first model that has one ------------------------------------


def installation(tenant="acme", **fields):
    tenant, _ = Tenant.objects.get_or_create(slug=tenant, defaults={"name": tenant})
    fields.setdefault("installation_id", 1000 + GitHubInstallation.objects.count())
    return GitHubInstallation.objects.create(tenant=tenant, account_login="octo-org", account_type="Organization",
                                             **fields)


def stored(instance, column: str):
    """The column as the database holds it, past the field."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {instance._meta.db_table} WHERE id = %s", [instance.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_field_value_reads_back_and_the_column_holds_a_token_not_the_value(settings):
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY]
    saved = installation(access_token="ghs_round-trip")
    assert GitHubInstallation.objects.get(pk=saved.pk).access_token == "ghs_round-trip"
    raw = stored(saved, "access_token")
    assert "ghs_round-trip" not in raw
    assert Fernet(NEW_KEY).decrypt(raw.encode()) == b"ghs_round-trip"
    assert stored(saved, "access_token") != stored(installation(access_token="ghs_round-trip"), "access_token")


@pytest.mark.django_db
def test_none_stays_null_and_updates_are_encrypted_too(settings):
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY]
    saved = installation()
    assert stored(saved, "access_token") is None and GitHubInstallation.objects.get(pk=saved.pk).access_token is None
    assert GitHubInstallation.objects.filter(access_token__isnull=True).count() == 1
    GitHubInstallation.objects.filter(pk=saved.pk).update(access_token="ghs_updated")
    assert Fernet(NEW_KEY).decrypt(stored(saved, "access_token").encode()) == b"ghs_updated"
    saved.refresh_from_db()
    assert saved.access_token == "ghs_updated"
    saved.access_token = None
    saved.save()
    assert stored(saved, "access_token") is None


@pytest.mark.django_db
def test_a_field_value_written_under_an_old_key_reads_after_a_new_key_is_prepended(settings):
    settings.EMMA_ENCRYPTION_KEYS = [OLD_KEY]
    saved = installation(access_token="ghs_old", refresh_token="ghr_old")
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    loaded = GitHubInstallation.objects.get(pk=saved.pk)
    assert (loaded.access_token, loaded.refresh_token) == ("ghs_old", "ghr_old")
    loaded.save()  # a write uses the newest key
    assert Fernet(NEW_KEY).decrypt(stored(saved, "access_token").encode()) == b"ghs_old"


@pytest.mark.django_db
def test_a_field_value_is_in_no_repr_and_no_form():
    saved = installation(access_token="ghs_secret-7f3a", refresh_token="ghr_secret-7f3a")
    assert "secret-7f3a" not in repr(saved) and "secret-7f3a" not in str(saved)
    form = modelform_factory(GitHubInstallation, fields="__all__")(instance=saved)
    assert {"access_token", "refresh_token"}.isdisjoint(form.fields)
    assert "secret-7f3a" not in form.as_p()


# --- manage.py emma_rotate_encryption_keys ---------------------------------------------------------------

ACCESS, REFRESH = "integrations.GitHubInstallation.access_token", "integrations.GitHubInstallation.refresh_token"
USER = "integrations.GitHubInstallation.user_access_token"  # none stored in these tests


def rotate_keys(*args) -> dict[str, str]:
    """The command's report, one line per model.field."""
    out = io.StringIO()
    call_command("emma_rotate_encryption_keys", *args, stdout=out)
    return dict(line.split(": ", 1) for line in out.getvalue().splitlines())


def raw_tokens() -> dict[tuple[int, str], str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, access_token, refresh_token FROM integrations_githubinstallation")
        return {(pk, column): token for pk, *tokens in cursor.fetchall()
                for column, token in zip(("access_token", "refresh_token"), tokens, strict=True) if token is not None}


def test_every_encrypted_field_of_every_app_is_found():
    assert {(model._meta.label, field.name) for model, field in encrypted_fields()} >= {
        ("integrations.GitHubInstallation", "access_token"), ("integrations.GitHubInstallation", "refresh_token")}


@pytest.mark.django_db
def test_the_command_re_encrypts_every_value_under_the_newest_key_in_batches_and_check_counts(settings):
    settings.EMMA_ENCRYPTION_KEYS = [OLD_KEY]
    old = [installation(access_token=f"ghs_{n}", refresh_token=f"ghr_{n}" if n < 2 else None) for n in range(3)]
    installation()  # no tokens
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    installation(access_token="ghs_new")
    before = raw_tokens()
    updated_at = {row.pk: row.updated_at for row in GitHubInstallation.objects.all()}

    out = io.StringIO()
    with pytest.raises(CommandError, match="5 values are not under the newest key"):
        call_command("emma_rotate_encryption_keys", "--check", stdout=out)
    assert raw_tokens() == before  # checking writes nothing
    assert f"{ACCESS}: 3 not under the newest key, 1 under the newest key" in out.getvalue()
    assert f"{REFRESH}: 2 not under the newest key, 0 under the newest key" in out.getvalue()

    with CaptureQueriesContext(connection) as queries:
        report = rotate_keys("--batch-size", "2")
    locked = [query["sql"] for query in queries
              if query["sql"].endswith("FOR UPDATE") and GitHubInstallation._meta.db_table in query["sql"]]
    # access: 2 + 2 + none; refresh: 2 + none; user access: none (other tables' columns: their own batches)
    assert len(locked) == 6 and all("LIMIT 2" in sql for sql in locked)
    assert report[ACCESS] == "3 re-encrypted, 1 under the newest key"
    assert report[REFRESH] == "2 re-encrypted, 0 under the newest key"
    after = raw_tokens()
    assert after.keys() == before.keys()
    newest_alone = Fernet(NEW_KEY)
    assert {key: newest_alone.decrypt(token.encode()).decode() for key, token in after.items()} == {
        **{(row.pk, "access_token"): f"ghs_{n}" for n, row in enumerate(old)},
        **{(row.pk, "refresh_token"): f"ghr_{n}" for n, row in enumerate(old[:2])},
        **{key: "ghs_new" for key in after if key[0] not in {row.pk for row in old}}}
    assert {row.pk: row.updated_at for row in GitHubInstallation.objects.all()} == updated_at

    assert rotate_keys("--check").items() >= {ACCESS: "0 not under the newest key, 4 under the newest key",
                                              REFRESH: "0 not under the newest key, 2 under the newest key",
                                              USER: "0 not under the newest key, 0 under the newest key"}.items()
    assert rotate_keys()[ACCESS] == "0 re-encrypted, 4 under the newest key"
    assert raw_tokens() == after  # a second run writes nothing
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY]  # the old key dropped
    assert sorted(row.access_token for row in GitHubInstallation.objects.exclude(access_token__isnull=True)) == [
        "ghs_0", "ghs_1", "ghs_2", "ghs_new"]


@pytest.mark.django_db
def test_a_value_no_key_opens_is_counted_left_as_it_is_and_fails_the_command(settings):
    settings.EMMA_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    lost = installation(access_token="ghs_lost")
    settings.EMMA_ENCRYPTION_KEYS = [OLD_KEY]
    kept = installation(access_token="ghs_kept")
    settings.EMMA_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    lost_token = stored(lost, "access_token")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 values open with none of EMMA_ENCRYPTION_KEYS"):
        call_command("emma_rotate_encryption_keys", stdout=out)
    assert f"{ACCESS}: 1 re-encrypted, 0 under the newest key, 1 opened by no key" in out.getvalue()
    assert stored(lost, "access_token") == lost_token
    assert Fernet(NEW_KEY).decrypt(stored(kept, "access_token").encode()) == b"ghs_kept"
