"""`make run` and a developer's shell.

`make run` exports DATABASE_URL / REDIS_URL to the processes it starts. A command typed in another shell
while it is up has neither: it finds the embedded services `make run` started through EMMA_DATA_DIR
(postmaster.pid, valkey/server.json). Nothing here starts a server; with none running and no URL set,
settings fail with one line that says so."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from devstack import embedded

try:
    os.environ.update(embedded.service_urls(
        os.environ, Path(os.environ.get("EMMA_DATA_DIR") or Path(__file__).resolve().parents[2] / ".emma"),
        started_by="make run"))
except embedded.NotRunning as exc:
    raise ImproperlyConfigured(str(exc)) from None

from .base import *  # noqa: E402,F403

from core.crypto import development_key  # noqa: E402

# A development key when none is set, the same on every run: changing DJANGO_SECRET_KEY makes local tokens unreadable.
if not EMMA_ENCRYPTION_KEYS:  # noqa: F405
    EMMA_ENCRYPTION_KEYS = [development_key(SECRET_KEY)]  # noqa: F405
