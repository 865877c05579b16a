"""The test suite: embedded services of its own under .emma/test (or EMMA_TEST_DATA_DIR), apart from the
data of `make run`. `make test` (devstack) starts them and exports their URLs; a pytest run on its own
finds them there while they run. Nothing here starts a server."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from devstack import embedded

TEST_DATA_DIR = Path(os.environ.get("EMMA_TEST_DATA_DIR")
                     or Path(__file__).resolve().parents[2] / ".emma" / "test").resolve()
os.environ["EMMA_DATA_DIR"] = str(TEST_DATA_DIR)
try:
    os.environ.update(embedded.service_urls(os.environ, TEST_DATA_DIR, started_by="make test"))
except embedded.NotRunning as exc:
    raise ImproperlyConfigured(str(exc)) from None

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["KEY_PREFIX"] = "emma-test"  # noqa: F405
# No collectstatic in tests: WhiteNoise serves straight from the apps.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
