"""Inbound webhooks: no JWT, each endpoint verifies its provider's signature (docs/INTEGRATIONS.md).
One view serves them all (and a tenant's registered endpoints: /webhooks/<provider>/<endpoint id>), as each provider declares them (integrations/<provider>/inbound.py)."""

from django.urls import path

from integrations import providers
from integrations.webhooks import RegisteredWebhookView, WebhookView

urlpatterns = [
    path(endpoint.path, WebhookView.for_endpoint(provider, endpoint), name=endpoint.url_name)
    for provider in providers.registered() for endpoint in provider.endpoints
] + [
    # A tenant's own endpoints (integrations.models.WebhookEndpoint); the secret in the URL, for providers that
    # cannot sign and cannot send a header.
    path("<slug:provider>/<uuid:endpoint_id>", RegisteredWebhookView.as_view(), name="webhook-registered"),
    path("<slug:provider>/<uuid:endpoint_id>/<str:url_secret>", RegisteredWebhookView.as_view(),
         name="webhook-registered-secret"),
]
