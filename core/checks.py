"""Start-up checks of the accounts' configuration (`manage.py check`, and so `migrate`, the release step)."""

from django.conf import settings
from django.core.checks import Warning, register

# Backends that deliver nothing to anyone: fine under `make run` and in tests, a silent failure in production.
UNDELIVERED = ("core.mail.EmailBackend", "django.core.mail.backends.console.EmailBackend",
               "django.core.mail.backends.locmem.EmailBackend", "django.core.mail.backends.dummy.EmailBackend",
               "django.core.mail.backends.filebased.EmailBackend")


@register("core")
def email_backend_check(app_configs=None, **kwargs) -> list[Warning]:
    """Production with no EMAIL_URL prints invitations and reset links to the worker's log instead of
    sending them: it still starts (so a deployment without email keeps running), and says so."""
    if not getattr(settings, "EMMA_PRODUCTION", False) or settings.EMAIL_BACKEND not in UNDELIVERED:
        return []
    return [Warning(f"EMAIL_URL is unset or not a mail server ({settings.EMAIL_BACKEND}): invitations, "
                    "verification and password reset emails are written to the worker's log, not sent.",
                    hint="Set EMAIL_URL, e.g. smtp://user:password@smtp.example.com:587/?tls=True.",
                    id="core.W001")]
