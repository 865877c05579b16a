"""The accounts' settings: EMMA_SIGNUP is open or invite, nothing else; production without a mail server
starts, and `manage.py check` says invitations and reset links will not be sent."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.emma.test_settings import SAFE, load_production_settings


def production_check(**overrides) -> subprocess.CompletedProcess:
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", **{**SAFE, **overrides})
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.django_db
def test_sign_up_is_open_or_by_invitation_and_nothing_else():
    result = load_production_settings(EMMA_SIGNUP="sometimes")
    assert result.returncode != 0 and "EMMA_SIGNUP" in result.stderr
    assert load_production_settings(EMMA_SIGNUP="open").returncode == 0


@pytest.mark.django_db
def test_production_without_a_mail_server_starts_and_the_check_says_mail_is_not_sent():
    unset = production_check()
    assert unset.returncode == 0, unset.stderr[-2000:]
    assert "core.W001" in unset.stderr and "EMAIL_URL" in unset.stderr
    smtp = production_check(EMAIL_URL="smtp://mailer:secret@smtp.example.com:587/?tls=True")
    assert smtp.returncode == 0 and "core.W001" not in smtp.stderr, smtp.stderr[-2000:]


def test_console_emails_go_to_the_processs_own_output_not_to_a_workers_redirected_logs(capfd):
    """A Celery worker redirects sys.stdout into its JSON logs; under `make run` a person reads the invitation
    on the console, so the console backend writes to the real standard output."""
    import contextlib
    import io

    from django.core.mail import EmailMessage

    from core.mail import EmailBackend

    redirected = io.StringIO()
    with contextlib.redirect_stdout(redirected):
        EmailBackend().send_messages([EmailMessage("Your invitation", "Accept: http://emma.test/accept-invite/x",
                                                   "emma@localhost", ["grace@example.com"])])
    assert redirected.getvalue() == ""
    assert "Accept: http://emma.test/accept-invite/x" in capfd.readouterr().out
