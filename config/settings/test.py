"""The test suite: every setting pinned, whatever the shell exports.

base.py is read against an environment of this file's making instead of the shell's, so every setting
takes its default: an AUTONOMY_LEVEL, a channel secret or DJANGO_DEBUG a developer exported changes
nothing the suite tests (tests/emma/test_settings.py proves it). Only the data services come from
outside: DATABASE_URL, REDIS_URL and CELERY_BROKER_URL (and PROMETHEUS_MULTIPROC_DIR, where a test sets it
for a process it starts), else the embedded services of EMMA_TEST_DATA_DIR
(default .emma/test, apart from the data of `make run`), which `make test` starts and a pytest run on its
own finds while they run."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from devstack import embedded

TEST_DATA_DIR = Path(os.environ.get("EMMA_TEST_DATA_DIR")
                     or Path(__file__).resolve().parents[2] / ".emma" / "test").resolve()

# The data services, and the metrics directory a test gives the worker and web processes it starts.
_environment = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                                                    "PROMETHEUS_MULTIPROC_DIR") if os.environ.get(name)}
_environment["EMMA_DATA_DIR"] = str(TEST_DATA_DIR)
try:
    _environment.update(embedded.service_urls(_environment, TEST_DATA_DIR, started_by="make test"))
except embedded.NotRunning as exc:
    raise ImproperlyConfigured(str(exc)) from None

environ.Env.ENVIRON = _environment
try:
    from .base import *  # noqa: F403
finally:
    environ.Env.ENVIRON = os.environ

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A fixed key (not derived from anything), so stored test values read the same in every process of a run.
EMMA_ENCRYPTION_KEYS = ["dGVzdC1vbmx5LWVtbWEtZW5jcnlwdGlvbi1rZXktMDE="]
CACHES["default"]["KEY_PREFIX"] = "emma-test"  # noqa: F405
# No collectstatic in tests: WhiteNoise serves straight from the apps.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# Accounts: invitations only, and emails kept in django.core.mail.outbox (tests that need SMTP point the
# backend at their own loopback server).
EMMA_SIGNUP = "invite"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "Emma <emma@localhost>"
INVITATION_DAYS = 7
EMAIL_VERIFICATION_DAYS = 3
PASSWORD_RESET_TIMEOUT = 3600
ACCOUNT_RATE_LIMIT_PER_MIN = 10
# What a GitHub comment mentions to ask Emma (integrations.github.runs).
GITHUB_MENTION = "@emma"
# Whose comments may ask Emma (their author_association on GitHub).
GITHUB_ASK_ASSOCIATIONS = ["OWNER", "MEMBER", "COLLABORATOR"]
