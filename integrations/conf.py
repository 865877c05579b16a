"""Integration settings, read at the moment they are needed (tests and operators may change them).

A name defined in Django settings wins, even when empty (so a test can unset a secret); otherwise the
environment is read. Per-name switches (`INTEGRATIONS_<NAME>_ENABLED`, `INTEGRATIONS_<NAME>_RATE_PER_SEC`,
`MAX_DAILY_<CHANNEL>_MESSAGES`) work from the environment alone."""

import os

from django.conf import settings

_UNSET = object()

DEFAULTS = {
    "SLACK_API_URL": "https://slack.com/api/",
    "TWILIO_API_URL": "https://api.twilio.com",
    "WABA_API_URL": "https://graph.facebook.com",
    "WABA_API_VERSION": "v21.0",
    "INTEGRATIONS_BREAKER_THRESHOLD": "5",
    "INTEGRATIONS_BREAKER_COOLDOWN_SECONDS": "30",
    "INTEGRATIONS_HTTP_TIMEOUT_SECONDS": "10",
    "INTEGRATIONS_DEFAULT_RATE_PER_SEC": "5",
}


def setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, _UNSET)
    if value is _UNSET:
        value = os.environ.get(name, _UNSET)
    if value is _UNSET or value is None:
        value = DEFAULTS.get(name, default)
    return value if isinstance(value, str) else str(value)


def setting_bool(name: str, default: bool) -> bool:
    value = getattr(settings, name, _UNSET)
    if isinstance(value, bool):
        return value
    raw = setting(name, "")
    if raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def setting_number(name: str, default: float | None) -> float | None:
    raw = setting(name, "").strip()
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        return default


def enabled(integration: str) -> bool:
    """`INTEGRATIONS_<NAME>_ENABLED` (default on)."""
    return setting_bool(f"INTEGRATIONS_{integration.upper()}_ENABLED", True)


def http_timeout() -> float:
    return setting_number("INTEGRATIONS_HTTP_TIMEOUT_SECONDS", 10.0)
