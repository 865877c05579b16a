"""Account emails through a real SMTP server on loopback (aiosmtpd): an invitation and a password reset
arrive with links that work, and an SMTP server that refuses a message is tried again, without failing
the request that asked for it."""

import email
import email.policy
import re

import pytest
from aiosmtpd.controller import Controller

from core.models import Invitation
from core.tasks import send_account_email
from tests.core.people import NEW_PASSWORD, PASSWORD, anonymous, free_port, link_in

pytestmark = pytest.mark.django_db


class Inbox:
    """An aiosmtpd handler that keeps every message, after refusing the first `refuse` with a 451."""

    def __init__(self):
        self.messages, self.attempts, self.refuse = [], 0, 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            return "451 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": message["subject"],
                              "body": message.get_content()})
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield inbox
    controller.stop()


def test_an_invitation_arrives_over_smtp_with_a_link_that_works(acme, sent, smtp):
    with sent():
        response = acme.admin_api.post("/api/invitations", {"email": "grace@example.com"}, format="json")
    assert response.status_code == 201
    [message] = smtp.messages
    assert message["to"] == ["grace@example.com"] and message["from"] == "emma@localhost"
    assert message["subject"] == "You are invited to acme on Emma"
    token = link_in(message["body"], "/accept-invite/").rsplit("/", 1)[1]
    accepted = anonymous().post("/api/auth/accept-invite", {"token": token, "username": "grace",
                                                            "password": PASSWORD}, format="json")
    assert accepted.status_code == 200 and accepted.json()["tenant"] == "acme"


def test_a_reset_email_arrives_over_smtp_with_a_link_that_works(make_user, sent, smtp):
    ada = make_user(username="ada")
    ada.email = "ada@example.com"
    ada.save()
    with sent():
        assert anonymous().post("/api/auth/password-reset", {"email": "ada@example.com"},
                                format="json").status_code == 202
    [message] = smtp.messages
    assert message["to"] == ["ada@example.com"]
    uid, token = link_in(message["body"], "/reset-password/").split("/")[2:4]
    confirmed = anonymous().post("/api/auth/password-reset/confirm",
                                 {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    assert confirmed.status_code == 204
    assert anonymous().post("/api/auth/token", {"username": "ada", "password": NEW_PASSWORD},
                            format="json").status_code == 200


def test_a_message_the_server_refuses_is_sent_again(smtp, sent):
    smtp.refuse = 2
    result = send_account_email.apply(args=["grace@example.com", "Hello", "Body"])
    assert result.successful()
    assert smtp.attempts == 3 and [m["subject"] for m in smtp.messages] == ["Hello"]


def test_an_unreachable_smtp_server_does_not_fail_the_request(acme, sent, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 1  # nothing listens
    with sent():
        response = acme.admin_api.post("/api/invitations", {"email": "grace@example.com"}, format="json")
    assert response.status_code == 201
    assert Invitation.objects.get().status == "pending"


def test_a_worker_sends_account_emails_without_logging_their_links(transactional_db, acme, celery_worker_process):
    """The real path: queued after commit, sent by a worker (its backend keeps the mail), and nothing in
    the worker's log shows the link's secret: only the recipient and subject."""
    from core import accounts
    from tests.conftest import wait_for

    _, link = accounts.invitation_create(tenant=acme.admin.memberships.get().tenant, email="worker-test@example.com",
                                         role="submitter", invited_by=acme.admin)
    token = link.rsplit("/", 1)[1]
    succeeded = re.compile(r"Task core\.send_account_email\[[0-9a-f-]+\] succeeded.*worker-test@example\.com.*")
    line = wait_for(lambda: succeeded.search(celery_worker_process.logs()), message="the invitation email").group(0)
    assert "<hidden>" in line and "You are invited to acme on Emma" in line
    assert token not in celery_worker_process.logs()
