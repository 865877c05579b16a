"""The tenant's `integrations` configuration document (core.configuration): which providers are on for it,
its own daily caps, and its default channels. The deployment's settings stay the defaults and the ceiling:
a provider the deployment switched off (INTEGRATIONS_<NAME>_ENABLED=false) stays off for every tenant, and a
tenant's daily cap may be lower than the deployment's (MAX_DAILY_<CHANNEL>_MESSAGES), never higher.

    providers         {name: bool} for each of settings.WEBHOOK_PROVIDERS (slack, twilio = SMS, waba = WhatsApp,
                      github, jira, ...): off, its messages are refused (the outbox row fails, saying why) and
                      its webhooks for this tenant answer 404 and store nothing
    daily_caps        {slack, sms, whatsapp: messages a UTC day; memory_searches: searches a UTC day}; null: none
                      of the tenant's own
    default_channels  {slack: "#channel" or a member id; sms, whatsapp: "+15551234567"}: the tenant's default
                      destinations (`default_channel()`); stored and served, not yet used by a task type"""

from django.conf import settings

from core.configuration import Document
from core.configuration.selectors import config_current

NAME = "integrations"
CAPPED = ("slack", "sms", "whatsapp")
CAP = {"type": ["integer", "null"], "minimum": 0, "maximum": 10_000_000}


def schema() -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "providers": {"type": "object", "additionalProperties": False,
                          "properties": {name: {"type": "boolean"} for name in settings.WEBHOOK_PROVIDERS}},
            "daily_caps": {"type": "object", "additionalProperties": False,
                           "properties": {name: CAP for name in (*CAPPED, "memory_searches")}},
            "default_channels": {"type": "object", "additionalProperties": False, "properties": {
                "slack": {"type": "string", "pattern": r"^[#@]?[A-Za-z0-9._-]{1,80}$"},
                "sms": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$"},
                "whatsapp": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$"}}},
        },
    }


def defaults() -> dict:
    return {"providers": dict(settings.INTEGRATIONS_ENABLED),
            "daily_caps": {name: None for name in (*CAPPED, "memory_searches")},
            "default_channels": {}}


def within_the_deployment(content: dict) -> dict[str, list[str]]:
    """What a tenant may not set: a provider the deployment switched off, a cap above the deployment's."""
    errors = {}
    for name, on in (content.get("providers") or {}).items():
        if on and not settings.INTEGRATIONS_ENABLED.get(name, False):
            errors[f"providers.{name}"] = [f"the deployment has {name} switched off "
                                           f"(INTEGRATIONS_{name.upper()}_ENABLED): a tenant cannot switch it on"]
    for name, cap in (content.get("daily_caps") or {}).items():
        ceiling = settings.MAX_DAILY_MESSAGES.get(name)
        if cap is not None and ceiling is not None and cap > ceiling:
            errors[f"daily_caps.{name}"] = [f"{cap} is above the deployment's cap of {ceiling} "
                                            f"(MAX_DAILY_{name.upper()}_MESSAGES)"]
    return errors


def document() -> Document:
    return Document(NAME, schema=schema(), defaults=defaults, check=within_the_deployment, title="Integrations",
                    description="Providers on or off, daily caps and default channels for this tenant.")


# --- what the rest of the app reads -----------------------------------------------------------------


def current(tenant_id: int) -> dict:
    return config_current(tenant_id=tenant_id, document=NAME)[0]


def provider_enabled(switch: str, tenant_id: int | None) -> bool:
    """On for the deployment (INTEGRATIONS_<NAME>_ENABLED) and, when a tenant is named, for that tenant."""
    if not settings.INTEGRATIONS_ENABLED[switch]:
        return False
    if tenant_id is None:
        return True
    return bool(current(tenant_id)["providers"].get(switch, True))


def tenant_daily_cap(tenant_id: int | None, name: str) -> int | None:
    if tenant_id is None:
        return None
    return current(tenant_id)["daily_caps"].get(name)


def default_channel(tenant_id: int, channel: str) -> str | None:
    return current(tenant_id)["default_channels"].get(channel) or None
