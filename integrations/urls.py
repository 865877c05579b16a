"""Inbound webhooks: no JWT, each endpoint verifies its provider's signature (docs/INTEGRATIONS.md).
One view serves them all, as each provider declares them (integrations/<provider>/inbound.py)."""

from django.urls import path

from integrations import providers
from integrations.webhooks import WebhookView

urlpatterns = [
    path(endpoint.path, WebhookView.for_endpoint(provider, endpoint), name=endpoint.url_name)
    for provider in providers.registered() for endpoint in provider.endpoints
]
