"""Registering a tenant's webhook endpoint and sending to it, for the provider tests.

    endpoint, secret = register(acme, "pagerduty")
    response = send(client, endpoint, body=b"...", headers={...})      # POST /webhooks/pagerduty/<id>
    send(client, endpoint, body=..., url_secret=secret)                # POST /webhooks/<p>/<id>/<secret>
    signals_of(acme)                                                   # what the tenant's tables hold now"""

import json

from integrations import registry
from integrations.dora.models import Alert, Build, Change, Deployment, Incident, Issue, QualityGate


def register(team, provider: str, *, name: str = "", options: dict | None = None, secret: str | None = None):
    """A new endpoint of `provider` for the team's tenant, and its secret (shown once)."""
    return registry.endpoint_create(tenant_id=team.tenant_id, user=team.admin, provider=provider,
                                    name=name or f"{provider} endpoint", options=options or {}, secret=secret)


def send(client, endpoint, *, body, headers: dict | None = None, url_secret: str = "",
         content_type: str = "application/json"):
    """POST a delivery to a registered endpoint, headers as the vendor sends them."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = endpoint.path + (f"/{url_secret}" if url_secret else "")
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
    return client.post(path, data=raw, content_type=content_type, **extra)


def signals_of(team) -> dict:
    """Every engineering event of the team's tenant, by kind, as rows."""
    tables = {"change": Change, "deployment": Deployment, "incident": Incident, "build": Build, "alert": Alert,
              "issue": Issue, "quality_gate": QualityGate}
    return {kind: list(model.objects.filter(tenant_id=team.tenant_id)) for kind, model in tables.items()}
