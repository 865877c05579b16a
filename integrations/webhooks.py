"""The shape every inbound webhook view shares: enabled? → verified? → stored once → processed later.

    disabled (INTEGRATIONS_<NAME>_ENABLED=false)  404
    no secret configured                          503 (the endpoint exists but cannot trust anyone)
    no signature / bad or stale signature         401 / 403, counted, logged without the body, not stored
    not something we understand, once verified    400, not stored
    verified                                      stored once per (provider, dedup key), processed by
                                                  `integrations.process_delivery` after commit; 200 at once
    verified again (a redelivery or a replay)     200, not processed again

Bodies are already bounded by PayloadLimitMiddleware (MAX_PAYLOAD_BYTES)."""

import abc
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from core.errors import json_error
from integrations import conf, selectors, services
from integrations.errors import NotConfigured, Refused, bad, missing
from integrations.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REFUSED

logger = logging.getLogger("integrations.webhooks")


@dataclass
class Accepted:
    """What a verified request is, in the words the store needs."""

    dedup_key: str
    event_type: str = ""
    headers: dict = field(default_factory=dict)
    tenant_id: int | None = None


class Unusable(Exception):
    """A verified request we cannot use (no dedup key, not JSON): 400, nothing stored."""


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_hmac(*, secret: str, body: bytes, signature: str | None, prefix: str = "") -> None:
    """`signature` must be `prefix` + hex HMAC-SHA256 of the raw body, compared in constant time."""
    if not signature:
        raise missing("signature")
    if not hmac.compare_digest(f"{prefix}{hmac_hex(secret, body)}".encode(), signature.strip().encode()):
        raise bad("signature")


def required_secret(name: str) -> str:
    secret = conf.setting(name)
    if not secret:
        raise NotConfigured(f"{name} is not set")
    return secret


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(abc.ABC, View):
    """Subclasses name their provider and integration and implement verify() and accept()."""

    provider = ""
    integration = ""  # the NAME in INTEGRATIONS_<NAME>_ENABLED
    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if not conf.enabled(self.integration):
            return json_error(404, "not_found", f"Nothing is found at {request.path}.")
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = json_error(405, "method_not_allowed", f"{request.method} is not allowed here.")
        response["Allow"] = ", ".join(method.upper() for method in self._allowed_methods())
        return response

    # --- what subclasses provide ---

    @abc.abstractmethod
    def verify(self, request) -> None:
        """Raise Refused (or NotConfigured) unless the request is the provider's."""

    @abc.abstractmethod
    def accept(self, request) -> Accepted | HttpResponse:
        """What to store; or a response to give at once without storing (a URL handshake)."""

    def acknowledge(self, request, delivery, created: bool) -> HttpResponse:
        return JsonResponse({"status": "accepted" if created else "duplicate"})

    # --- the flow ---

    def post(self, request, *args, **kwargs):
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        try:
            accepted = self.accept(request)
        except Unusable as exc:
            return json_error(400, "bad_request", str(exc))
        if isinstance(accepted, HttpResponse):
            return accepted
        delivery, created = services.delivery_store(
            provider=self.provider, dedup_key=accepted.dedup_key, event_type=accepted.event_type,
            headers=accepted.headers, body=request.body.decode("utf-8", errors="replace"),
            tenant_id=accepted.tenant_id)
        WEBHOOKS_RECEIVED.labels(provider=self.provider, outcome="accepted" if created else "duplicate").inc()
        return self.acknowledge(request, delivery, created)

    def refusal(self, request) -> HttpResponse | None:
        """None when the request verifies; else the response, counted and logged (never with the body)."""
        try:
            self.verify(request)
            return None
        except NotConfigured as exc:
            WEBHOOKS_REFUSED.labels(provider=self.provider, reason="not_configured").inc()
            logger.error("%s webhook cannot be verified: %s", self.provider, exc)
            return json_error(503, "not_configured", f"The {self.provider} integration is not configured.")
        except Refused as exc:
            WEBHOOKS_REFUSED.labels(provider=self.provider, reason=exc.reason).inc()
            logger.warning("%s webhook refused: %s", self.provider, exc.reason, extra={
                "provider": self.provider, "reason": exc.reason, "path": request.path,
                "remote_addr": request.META.get("REMOTE_ADDR", ""),
                "content_length": request.META.get("CONTENT_LENGTH", "")})
            code = "unauthorized" if exc.status == 401 else "forbidden"
            return json_error(exc.status, code, "The request's signature is missing, wrong or too old.",
                              {"reason": exc.reason})


def header_subset(request, names) -> dict:
    return {name: request.headers[name] for name in names if name in request.headers}


def json_payload(raw: bytes | str) -> dict:
    """The JSON object of a body (GitHub may also send it form-encoded as `payload=`)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if text.startswith("payload="):
        text = parse_qs(text).get("payload", [""])[0]
    try:
        data = json.loads(text)
    except ValueError:
        raise Unusable("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise Unusable("The body is not a JSON object.")
    return data


def webhook_tenant_id(request) -> int | None:
    """The tenant an event belongs to: ?tenant=<slug> on the URL pasted into the tool, else
    INTEGRATIONS_DEFAULT_TENANT, else the only tenant there is."""
    return selectors.tenant_for_webhook(slug=request.GET.get("tenant") or conf.setting("INTEGRATIONS_DEFAULT_TENANT"))
