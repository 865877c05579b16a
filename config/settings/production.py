"""Production: refuses to start with an unsafe configuration. DATABASE_URL and REDIS_URL are required
(base.py refuses to start without them); nothing here finds or starts a data service."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY.startswith("insecure"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a secret value in production.")
if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if not ALLOWED_HOSTS or any("*" in host for host in ALLOWED_HOSTS):  # noqa: F405
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the site's host names; '*' is refused in production.")
if not EMMA_ENCRYPTION_KEYS:  # noqa: F405
    raise ImproperlyConfigured("EMMA_ENCRYPTION_KEYS must be set in production: one or more Fernet keys, "
                               "comma-separated, newest first (README: Configuration).")

# core.checks warns (core.W001) when EMAIL_URL sends no mail: invitations and reset links would only be logged.
EMMA_PRODUCTION = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
