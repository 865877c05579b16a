"""Webhook providers as declarations, in one registry that the webhook view and the processing read.

Each provider folder declares a `WebhookProvider` in its `inbound.py` and registers it on import
(IntegrationsConfig.ready imports them). `integrations.webhooks.WebhookView` serves each of its endpoints:

    provider.verify(request)            the signature; raises Refused or NotConfigured
    endpoint.parse(request)             what the body says (a JSON object, a form), or raises Unusable
    endpoint.answer(request, payload)   an answer given at once and nothing stored (Slack's URL check,
                                        an event not for us), or None
    endpoint.dedup_key / event_type     read from the headers or the payload
    endpoint.verify(request)            instead of provider.verify, when an endpoint has its own secret
                                        (GitHub App webhooks: GITHUB_APP_WEBHOOK_SECRET)
    endpoint.tenant(request)            tool events: from the URL (or the payload); chat: None (the sender's
                                        identity says)
    endpoint.received(delivery, payload) acted on at once, in the request, when a delivery is first stored
                                        (a GitHub App uninstalled is disabled before the 200)
    endpoint.keep_headers               stored with the delivery
    endpoint.acknowledge(created)       the 200 the provider expects
    endpoint.handshake(request)         GET, when the provider checks the URL that way (WhatsApp)

A tenant may also register its own endpoints of a provider (integrations.models.WebhookEndpoint), served at
/webhooks/<provider>/<endpoint id> with the endpoint's own secret: the provider's `registration` says how
(`Registration`: how one secret is checked, how the request is read, what options an endpoint takes).

Later `integrations.services.delivery_process` asks `provider.normalise(delivery)` what a stored
delivery says, as InboundEvents, and acts on each one; and `provider.signals(delivery, payload)` what it says
about delivering software (integrations.signals), stored for the DORA metrics. A provider that declares no
`normalise` is remembered as one tool event per delivery, summarised from its signals."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.models import Channel, WebhookDelivery

Payload = Mapping[str, Any]

# --- what a delivery says ---------------------------------------------------------------------------

CHAT_MESSAGE, BUTTON_DECISION, TOOL_EVENT, IGNORED = "chat_message", "button_decision", "tool_event", "ignored"


@dataclass(frozen=True)
class InboundEvent:
    """One thing a delivery says, in the terms of the service that acts on it (services.inbound_event_receive)."""

    kind: str  # CHAT_MESSAGE, BUTTON_DECISION, TOOL_EVENT or IGNORED
    channel: str = ""  # chat and buttons: the Channel the person wrote on
    actor: str = ""  # chat and buttons: the sender's address (Slack member id, phone number); tools: who did it
    text: str = ""  # chat: what the person wrote
    part: int = 0  # chat: which of several messages in one delivery (WhatsApp batches them)
    approve: bool = False  # buttons: Approve (True) or Reject
    code: str = ""  # buttons: the approver's decision code
    summary: str = ""  # tools: the line a person reads in a notification
    url: str = ""  # tools: the link to the thing
    payload: Payload = field(default_factory=dict)  # tools: what routing rules match on
    reason: str = ""  # ignored: why


def chat_message(*, channel: str, sender: str, text: str, part: int = 0) -> InboundEvent:
    return InboundEvent(CHAT_MESSAGE, channel=channel, actor=sender, text=text, part=part)


def button_decision(*, sender: str, approve: bool, code: str) -> InboundEvent:
    return InboundEvent(BUTTON_DECISION, channel=Channel.SLACK, actor=sender, approve=approve, code=code)


def tool_event(*, payload: Payload, summary: str, url: str = "", actor: str = "") -> InboundEvent:
    return InboundEvent(TOOL_EVENT, payload=payload, summary=summary, url=url, actor=actor)


def ignored(reason: str) -> InboundEvent:
    return InboundEvent(IGNORED, reason=reason)


# --- what a provider is -----------------------------------------------------------------------------


def accepted_or_duplicate(created: bool) -> HttpResponse:
    return JsonResponse({"status": "accepted" if created else "duplicate"})


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One URL under /webhooks/ and how to read what arrives there (a registration's `read` has no URL of its
    own: it is served at /webhooks/<provider>/<endpoint id>)."""

    path: str = ""
    url_name: str = ""
    parse: Callable[[HttpRequest], Payload]
    dedup_key: Callable[[HttpRequest, Payload], str]
    event_type: Callable[[HttpRequest, Payload], str]
    keep_headers: tuple[str, ...] = ()
    tenant: Callable[[HttpRequest], int | None] | None = None
    answer: Callable[[HttpRequest, Payload], HttpResponse | None] | None = None
    acknowledge: Callable[[bool], HttpResponse] = accepted_or_duplicate
    handshake: Callable[[HttpRequest], HttpResponse] | None = None
    verify: Callable[[HttpRequest], None] | None = None
    received: Callable[[WebhookDelivery, Payload], None] | None = None


@dataclass(frozen=True)
class Option:
    """A setting a tenant gives its endpoint (`options` of POST /api/integrations/endpoints)."""

    name: str
    help: str
    default: str = ""
    pattern: str = r"^[A-Za-z0-9._:/-]{1,100}$"  # what a value must match (a header name, an environment)


@dataclass(frozen=True)
class Registration:
    """How a tenant-registered endpoint of a provider (/webhooks/<provider>/<endpoint id>) is verified and read.

    `check(request, secret, options)` verifies the request with one secret and raises Refused (missing_*
    before bad_*); the view tries the endpoint's current secret and, during a rotation's overlap, its previous
    one. `signs`: False for providers that cannot sign, where the secret travels as is in a header or the URL
    (the admin says so). `describe(options)` is the line the admin and the API show about how it is verified.
    `new_secret()` makes a secret in the form the provider expects (Standard Webhooks: whsec_<base64>).
    `global_keys`: the provider's ids of deployments, incidents and builds are unique across all its accounts
    (GitHub's); else they are unique only within one endpoint's tool (two Jenkins servers both have deploy#42),
    and each endpoint's rows are kept apart (their `scope`)."""

    check: Callable[[HttpRequest, str, Mapping], None]
    read: Endpoint  # parse, dedup_key, event_type, keep_headers, answer, acknowledge (path and url_name unused)
    describe: Callable[[Mapping], str]
    signs: bool = True
    options: tuple[Option, ...] = ()
    new_secret: Callable[[], str] | None = None
    global_keys: bool = False


@dataclass(frozen=True)
class WebhookProvider:
    name: str  # WebhookDelivery.provider
    switch: str  # its key in settings.INTEGRATIONS_ENABLED (INTEGRATIONS_<NAME>_ENABLED)
    verify: Callable[[HttpRequest], None] | None = None  # the global endpoints' check (an environment secret)
    normalise: Callable[[WebhookDelivery], list[InboundEvent]] | None = None
    endpoints: tuple[Endpoint, ...] = ()  # global URLs (single-tenant deployments, chat channels)
    registration: Registration | None = None  # None: tenants cannot register endpoints of it (chat channels)
    signals: Callable[[WebhookDelivery, Payload], list] | None = None  # engineering events (integrations.signals)
    title: str = ""  # what people call it: "PagerDuty"


# --- the registry -----------------------------------------------------------------------------------

_registry: dict[str, WebhookProvider] = {}


def register(provider: WebhookProvider) -> WebhookProvider:
    """Add a provider; two providers with one name or one path are a mistake, refused at start-up."""
    taken = {endpoint.path for other in _registry.values() if other.name != provider.name
             for endpoint in other.endpoints}
    clashing = [endpoint.path for endpoint in provider.endpoints if endpoint.path in taken]
    if clashing or _registry.get(provider.name, provider) is not provider:
        raise ImproperlyConfigured(f"webhook provider {provider.name!r} clashes with one registered before "
                                   f"({', '.join(clashing) or 'same name'})")
    _registry[provider.name] = provider
    return provider


def endpoint_options(delivery: WebhookDelivery) -> dict:
    """The options of the registered endpoint a delivery came to ({} for a global endpoint's)."""
    return (delivery.endpoint.options if delivery.endpoint_id else None) or {}


def provider(name: str) -> WebhookProvider:
    return _registry[name]


def registered() -> list[WebhookProvider]:
    return list(_registry.values())


def registrable() -> list[WebhookProvider]:
    """The providers a tenant may register endpoints of, by name."""
    return sorted((p for p in _registry.values() if p.registration), key=lambda p: p.name)


def enabled(switch: str) -> bool:
    """INTEGRATIONS_<NAME>_ENABLED. A name missing from settings.INTEGRATIONS_ENABLED is a KeyError, not off."""
    return settings.INTEGRATIONS_ENABLED[switch]

