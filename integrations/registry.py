"""The webhook registry's writes: a tenant's own endpoints of each provider, their secrets and switches.

A secret is made here, shown once (in the answer that creates or rotates it) and stored encrypted
(core.fields.EncryptedTextField, EMMA_ENCRYPTION_KEYS). A rotation keeps the old secret verifying for an overlap
window, so the tool can be updated without losing a delivery. Every change is on the tenant's audit chain."""

import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import account_audit
from core.errors import Conflict, Invalid, NotFound
from integrations import providers
from integrations.models import WebhookEndpoint
from integrations.webhooks import new_token

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")
# A secret the vendor issued (PagerDuty, Linear and Sentry make their own): printable, long enough to resist guessing.
GIVEN_SECRET = re.compile(r"^[\x21-\x7e]{16,500}$")


def _secret(registration: providers.Registration, given: str | None) -> str:
    """The secret given (one the vendor issued), checked; else a new one in the form the provider expects."""
    if given is None or given == "":
        return (registration.new_secret or new_token)()
    if not GIVEN_SECRET.fullmatch(given):
        raise Invalid.field("secret", "16 to 500 printable characters, without spaces.")
    return given


def _registration(provider: str) -> providers.Registration:
    try:
        found = providers.provider(provider)
    except KeyError:
        found = None
    if found is None or found.registration is None:
        names = ", ".join(p.name for p in providers.registrable())
        raise Invalid.field("provider", f"Endpoints can be registered for: {names}.")
    return found.registration


def _options(registration: providers.Registration, options) -> dict:
    """The endpoint's options, checked against what its provider takes; unknown names are refused."""
    options = options or {}
    if not isinstance(options, dict):
        raise Invalid.field("options", "An object of option names and values.")
    allowed = {option.name: option for option in registration.options}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise Invalid.field("options", f"Unknown option(s) {', '.join(unknown)}; this provider takes: {known}.")
    checked = {}
    for name, option in allowed.items():
        value = options.get(name, option.default)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not re.fullmatch(option.pattern, value):
            raise Invalid.field("options", f"{name}: {option.help}")
        checked[name] = value
    return checked


def _name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise Invalid.field("name", "A name of 1 to 100 characters.")
    return name


def _facts(endpoint: WebhookEndpoint) -> dict:
    return {"provider": endpoint.provider, "name": endpoint.name, "options": endpoint.options,
            "enabled": endpoint.enabled}


@transaction.atomic
def endpoint_create(*, tenant_id: int, user, provider: str, name: str, options=None,
                    secret: str | None = None) -> tuple[WebhookEndpoint, str]:
    """A tenant's new endpoint of a provider, and its secret: returned this once, stored only encrypted. The
    secret is made here unless the vendor issued one (`secret`: PagerDuty, Linear and Sentry make their own)."""
    registration = _registration(provider)
    name = _name(name)
    secret = _secret(registration, secret)
    endpoint = WebhookEndpoint(tenant_id=tenant_id, provider=provider, name=name,
                               options=_options(registration, options), secret=secret,
                               created_by=user if getattr(user, "pk", None) else None)
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        raise Conflict(f"This tenant has a {provider} endpoint named {name!r} already.") from None
    account_audit(tenant_id=tenant_id, actor=user.get_username(), action="webhook_endpoint.created",
                  object_type="webhook_endpoint", object_id=endpoint.pk, after=_facts(endpoint))
    return endpoint, secret


def _locked(*, tenant_id: int, endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, tenant_id=tenant_id).first()
    if endpoint is None:
        raise NotFound("No such endpoint.")
    return endpoint


@transaction.atomic
def endpoint_update(*, tenant_id: int, endpoint_id, user, name: str | None = None, enabled: bool | None = None,
                    options=None) -> WebhookEndpoint:
    """Rename an endpoint, change its options, or switch it off (its URL answers 404 and stores nothing) and on."""
    endpoint = _locked(tenant_id=tenant_id, endpoint_id=endpoint_id)
    before = _facts(endpoint)
    if name is not None:
        name = _name(name)
        if WebhookEndpoint.objects.filter(tenant_id=tenant_id, provider=endpoint.provider, name=name).exclude(
                pk=endpoint.pk).exists():
            raise Conflict(f"This tenant has a {endpoint.provider} endpoint named {name!r} already.")
        endpoint.name = name
    if options is not None:
        endpoint.options = _options(_registration(endpoint.provider), options)
    if enabled is not None:
        endpoint.enabled = enabled
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:  # renamed at the same moment by someone else
        raise Conflict(f"This tenant has a {endpoint.provider} endpoint named {endpoint.name!r} already.") from None
    if _facts(endpoint) != before:
        account_audit(tenant_id=tenant_id, actor=user.get_username(), action="webhook_endpoint.changed",
                      object_type="webhook_endpoint", object_id=endpoint.pk, before=before, after=_facts(endpoint))
    return endpoint


@transaction.atomic
def endpoint_rotate(*, tenant_id: int, endpoint_id, user, overlap: timedelta = DEFAULT_OVERLAP,
                    secret: str | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret for an endpoint (made here, or the one the vendor issued: `secret`), returned this once. The
    one it replaces still verifies for `overlap` (at most MAX_OVERLAP; zero: at once no more); a secret older
    than that stops now."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise Invalid.field("overlap_seconds", f"Between 0 and {int(MAX_OVERLAP.total_seconds())} seconds.")
    endpoint = _locked(tenant_id=tenant_id, endpoint_id=endpoint_id)
    secret = _secret(_registration(endpoint.provider), secret)
    now = timezone.now()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = (endpoint.secret, now + overlap) if overlap \
        else (None, None)
    endpoint.secret, endpoint.rotated_at = secret, now
    endpoint.save()
    account_audit(tenant_id=tenant_id, actor=user.get_username(), action="webhook_endpoint.secret_rotated",
                  object_type="webhook_endpoint", object_id=endpoint.pk,
                  after={"previous_secret_valid_until": endpoint.previous_secret_expires_at.isoformat()
                         if endpoint.previous_secret_expires_at else None})
    return endpoint, secret
