"""The one view behind every inbound webhook, and the pieces provider declarations are built from.
Every endpoint goes the same way: enabled? → verified? → stored once → processed later.

    disabled (INTEGRATIONS_<NAME>_ENABLED=false)  404
    disabled for the tenant it is for             404, nothing stored (providers.<name> of the tenant's
                                                  integrations configuration; a registered endpoint's tenant
                                                  is known before verifying, a global one's after)
    no secret configured                          503 (the endpoint exists but cannot trust anyone)
    no signature / bad or stale signature         401 / 403, counted, logged without the body, not stored
    not something we understand, once verified    400, not stored
    verified                                      stored once per (provider, dedup key), processed by
                                                  `integrations.process_delivery` after commit; 200 at once
    verified again (a redelivery or a replay)     200, not processed again

What differs between providers is declared in integrations/<provider>/inbound.py (integrations.providers).
Bodies are already bounded by PayloadLimitMiddleware (MAX_PAYLOAD_BYTES).

A tenant's registered endpoint, /webhooks/<provider>/<endpoint id> (RegisteredWebhookView), goes the same way
with the endpoint's own secret: unknown or disabled, 404 and nothing stored; its deliveries belong to its
tenant and are stored once per (endpoint, dedup key)."""

import hashlib
import hmac
import json
import logging
import secrets
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from core.errors import json_error
from integrations import configuration, providers, selectors, services
from integrations.errors import NotConfigured, Refused, bad, missing
from integrations.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REFUSED
from integrations.providers import Endpoint, WebhookProvider

logger = logging.getLogger("integrations.webhooks")


class Unusable(Exception):
    """A verified request we cannot use (no dedup key, not JSON): 400, nothing stored."""


# --- verifying ------------------------------------------------------------------------------------


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_hmac(*, secret: str, body: bytes, signature: str | None, prefix: str = "") -> None:
    """`signature` must be `prefix` + hex HMAC-SHA256 of the raw body, compared in constant time."""
    if not signature:
        raise missing("signature")
    if not hmac.compare_digest(f"{prefix}{hmac_hex(secret, body)}".encode(), signature.strip().encode()):
        raise bad("signature")


def check_versioned_hmac(*, secret: str, body: bytes, header_value: str | None, version: str = "v1") -> None:
    """A header of comma-separated `<version>=<hex HMAC-SHA256(secret, body)>` pairs (PagerDuty during its secret
    rotation, CircleCI): genuine when any pair of `version` matches; other versions are ignored. Every candidate
    is compared, so the time taken does not say which one matched."""
    if not header_value:
        raise missing("signature")
    expected = hmac_hex(secret, body).encode()
    digests = [digest.strip() for name, _, digest in (pair.strip().partition("=") for pair in header_value.split(","))
               if name == version and digest.strip()]
    if not any([hmac.compare_digest(expected, digest.encode()) for digest in digests]):
        raise bad("signature")


def check_token(*, secret: str, value: str | None, what: str = "token") -> None:
    """A shared secret sent as is (a header, a bearer token, the URL), for providers that cannot sign:
    compared in constant time."""
    if not value:
        raise missing(what)
    if not hmac.compare_digest(value.strip().encode(), secret.encode()):
        raise bad(what)


def url_secret(request) -> str | None:
    """The secret in a registered endpoint's URL, /webhooks/<provider>/<endpoint id>/<secret>, if there."""
    match = getattr(request, "resolver_match", None)
    return (match.kwargs.get("url_secret") if match else None) or None


def secret_header_or_url(header_option: str = "header", default_header: str = ""):
    """The check of a provider that cannot sign: the secret in the header the endpoint names
    (options[header_option], else `default_header`), or at the end of the endpoint's URL."""

    def check(request, secret: str, options) -> None:
        name = (options or {}).get(header_option) or default_header
        value = request.headers.get(name) if name else None
        check_token(secret=secret, value=value or url_secret(request), what="secret")

    return check


def new_token() -> str:
    return secrets.token_urlsafe(32)


def required_secret(name: str) -> str:
    """The setting `name`, which must be set: without it no request can be trusted."""
    secret = getattr(settings, name)
    if not secret:
        raise NotConfigured(f"{name} is not set")
    return secret


# --- reading a request ----------------------------------------------------------------------------


def json_object(raw: bytes | str | None) -> dict:
    """The JSON object of a body (GitHub may also send it form-encoded as `payload=`)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw or ""
    if text.startswith("payload="):
        text = parse_qs(text).get("payload", [""])[0]
    try:
        data = json.loads(text)
    except ValueError:
        raise Unusable("The body is not JSON.") from None
    except RecursionError:
        raise Unusable("The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise Unusable("The body is not a JSON object.")
    return data


def json_body(request) -> dict:
    return json_object(request.body)


def form_body(request):
    return request.POST


def header(name: str):
    """Read the header `name`; a request without it is unusable."""

    def read(request, payload) -> str:
        value = request.headers.get(name)
        if not value:
            raise Unusable(f"{name} is required.")
        return value

    return read


def tenant_from_url(request) -> int | None:
    """The tenant an event belongs to: ?tenant=<slug> on the URL pasted into the tool, else
    INTEGRATIONS_DEFAULT_TENANT, else the only tenant there is."""
    return selectors.tenant_for_webhook(slug=request.GET.get("tenant") or settings.INTEGRATIONS_DEFAULT_TENANT)


def body_hash(request, payload) -> str:
    """The dedup key of a provider that sends no delivery id: the body's SHA-256 (the same body twice is one
    delivery)."""
    return "sha256:" + hashlib.sha256(request.body).hexdigest()


def first_of(*readers):
    """The first of several dedup readers that finds something (a header if sent, else the body's hash)."""

    def read(request, payload) -> str:
        for reader in readers:
            try:
                value = reader(request, payload)
            except Unusable:
                continue
            if value:
                return str(value)
        raise Unusable("The request carries no delivery id.")

    return read


def payload_field(*path: str, default: str = ""):
    """Read payload[path[0]][path[1]]... as text; missing: `default`."""

    def read(request, payload) -> str:
        value = payload
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return default if value in (None, "") else str(value)[:255]

    return read


def header_subset(request, names) -> dict:
    return {name: request.headers[name] for name in names if name in request.headers}


# --- the view -------------------------------------------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """Serves one endpoint of one provider, as declared; see `for_endpoint`."""

    provider: WebhookProvider = None  # both given by for_endpoint
    endpoint: Endpoint = None
    http_method_names = ["post"]

    @classmethod
    def for_endpoint(cls, provider: WebhookProvider, endpoint: Endpoint):
        methods = ["get", "post"] if endpoint.handshake else ["post"]
        return cls.as_view(provider=provider, endpoint=endpoint, http_method_names=methods)

    def dispatch(self, request, *args, **kwargs):
        if not providers.enabled(self.provider.switch):
            return json_error(404, "not_found", f"Nothing is found at {request.path}.")
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = json_error(405, "method_not_allowed", f"{request.method} is not allowed here.")
        response["Allow"] = ", ".join(method.upper() for method in self._allowed_methods())
        return response

    def get(self, request, *args, **kwargs):
        """The provider checking the URL (WhatsApp's subscription handshake): answered, nothing stored."""
        try:
            return self.endpoint.handshake(request)
        except (NotConfigured, Refused) as exc:
            return self.refusal(request, exc)

    def post(self, request, *args, **kwargs):
        endpoint = self.endpoint
        try:
            (endpoint.verify or self.provider.verify)(request)
        except (NotConfigured, Refused) as exc:
            return self.refusal(request, exc)
        return self.accept(request, endpoint, tenant=endpoint.tenant, verification="the deployment's secret")

    def accept(self, request, read: Endpoint, *, tenant=None, registered=None, verification: str = ""):
        """Store a verified request once and answer the provider; unusable ones get a 400 and are not stored."""
        try:
            payload = read.parse(request)
            answer = read.answer(request, payload) if read.answer else None
            if answer is not None:
                return answer
            dedup_key = read.dedup_key(request, payload)
            event_type = read.event_type(request, payload)
        except Unusable as exc:
            return json_error(400, "bad_request", str(exc))
        if not dedup_key:
            return json_error(400, "bad_request", "The request carries no delivery id.")
        tenant_id = registered.tenant_id if registered else (tenant(request) if tenant else None)
        if not configuration.provider_enabled(self.provider.switch, tenant_id):
            return json_error(404, "not_found", f"Nothing is found at {request.path}.")
        delivery, created = services.delivery_store(
            provider=self.provider.name, dedup_key=dedup_key, event_type=event_type,
            headers=header_subset(request, read.keep_headers), body=request.body.decode("utf-8", errors="replace"),
            tenant_id=tenant_id, endpoint=registered, verification=verification)
        if created and read.received:
            read.received(delivery, payload)
        WEBHOOKS_RECEIVED.labels(provider=self.provider.name, outcome="accepted" if created else "duplicate").inc()
        return read.acknowledge(created)

    def refusal(self, request, exc: NotConfigured | Refused) -> HttpResponse:
        """The answer to a request that did not verify, counted and logged (never with the body)."""
        provider = self.provider.name
        if isinstance(exc, NotConfigured):
            WEBHOOKS_REFUSED.labels(provider=provider, reason="not_configured").inc()
            logger.error("%s webhook cannot be verified: %s", provider, exc)
            return json_error(503, "not_configured", f"The {provider} integration is not configured.")
        WEBHOOKS_REFUSED.labels(provider=provider, reason=exc.reason).inc()
        logger.warning("%s webhook refused: %s", provider, exc.reason, extra={
            "provider": provider, "reason": exc.reason, "path": request.path,
            "remote_addr": request.META.get("REMOTE_ADDR", ""),
            "content_length": request.META.get("CONTENT_LENGTH", "")})
        code = "unauthorized" if exc.status == 401 else "forbidden"
        return json_error(exc.status, code, exc.message, {"reason": exc.reason})


@method_decorator(csrf_exempt, name="dispatch")
class RegisteredWebhookView(WebhookView):
    """/webhooks/<provider>/<endpoint id>[/<secret>]: a tenant's own endpoint of a provider, verified with the
    endpoint's secret (and, during a rotation's overlap, its previous one). Unknown, disabled, or of a provider
    switched off: 404, nothing stored."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, provider: str = "", endpoint_id=None, **kwargs):
        try:
            self.provider = providers.provider(provider)
        except KeyError:
            self.provider = None
        registered = selectors.endpoint_receiving(provider=provider, endpoint_id=endpoint_id) \
            if self.provider and self.provider.registration and providers.enabled(self.provider.switch) else None
        if registered is None or not configuration.provider_enabled(self.provider.switch, registered.tenant_id):
            return json_error(404, "not_found", f"Nothing is found at {request.path}.")
        self.registered = registered
        return View.dispatch(self, request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        registration, registered = self.provider.registration, self.registered
        candidates = [("current secret", registered.secret)]
        if registered.previous_secret and registered.previous_secret_expires_at and \
                registered.previous_secret_expires_at > timezone.now():
            candidates.append(("previous secret, during its rotation's overlap", registered.previous_secret))
        refusal = None
        for which, secret in candidates:
            try:
                registration.check(request, secret, registered.options or {})
            except Refused as exc:
                refusal = refusal or exc
                continue
            how = registration.describe(registered.options or {})
            return self.accept(request, registration.read, registered=registered,
                               verification=f"{how}: {which}"[:200])
        return self.refusal(request, refusal)
