"""The test suite: embedded services of its own under .emma/test (or EMMA_TEST_DATA_DIR), so
`make test` never touches the data of a `make run` on the same machine."""

import os
from pathlib import Path

os.environ["EMMA_DATA_DIR"] = os.environ.get(
    "EMMA_TEST_DATA_DIR", str(Path(__file__).resolve().parents[2] / ".emma" / "test")
)

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["KEY_PREFIX"] = "emma-test"  # noqa: F405
# No collectstatic in tests: WhiteNoise serves straight from the apps.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
