"""What the people tests share: account emails as they are sent, and the links in them.

Emails leave through the Celery task core.send_account_email, queued after the request's commit. Here the
commit's callbacks run (pytest-django's capture, as the `committed` fixture does) and Celery runs the task in
this process (task_always_eager), so each email is in Django's outbox (or at the test's SMTP server) when the
request returns."""

import re
import socket
from contextlib import contextmanager

import pytest
from celery import current_app, signals
from django.core import mail
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-brand-new-passphrase"
NOT_VALID = "This invitation link is not valid any more; ask for a new one."


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """`with sent():` runs a request and sends the emails it queued, as the commit and a worker would. The
    test's transaction outlives the task: a worker checks its connection before each task
    (config.celery_app), which would close this one, so that check is off meanwhile."""
    from config.celery_app import _check_database_connections

    app = current_app._get_current_object()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    signals.task_prerun.disconnect(_check_database_connections)

    @contextmanager
    def sending():
        """Yields the list of the emails sent, filled when the block ends (at its commit)."""
        start, emails = len(mail.outbox), []
        with django_capture_on_commit_callbacks(execute=True):
            yield emails
        emails.extend(mail.outbox[start:])

    yield sending
    app.conf.task_always_eager = eager
    signals.task_prerun.connect(_check_database_connections, weak=False)


def link_in(body: str, path: str) -> str:
    """The path (and what follows it) of the first link to `path` in an email."""
    match = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", body)
    assert match, body
    return match.group(1)


def anonymous(address: str = "10.1.0.1") -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
