"""A tenant's own webhook endpoints: /webhooks/<provider>/<endpoint id>, verified with the endpoint's secret,
stored once per endpoint, in the endpoint's tenant; disabled ones answer 404 and store nothing; a rotated
secret keeps the previous one verifying for the overlap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import registry
from integrations.models import WebhookDelivery, WebhookEndpoint
from tests.integrations.conftest import hub_signature, process_deliveries
from tests.integrations.registered import register, send, signals_of

pytestmark = pytest.mark.django_db

PUSH = {"ref": "refs/heads/main", "after": "b" * 40, "repository": {"full_name": "acme/shop", "name": "shop"},
        "pusher": {"name": "dana"},
        "commits": [{"id": "a" * 40, "timestamp": "2026-11-02T09:00:00Z", "message": "Fix checkout\n\nbody",
                     "url": "https://github.com/acme/shop/commit/" + "a" * 40, "author": {"username": "dana"}},
                    {"id": "b" * 40, "timestamp": "2026-11-02T10:00:00Z", "message": "Tests"}]}


def github_push(client, endpoint, secret, *, delivery="d-1", body=None):
    raw = __import__("json").dumps(body or PUSH).encode()
    return send(client, endpoint, body=raw, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                                                     "X-Hub-Signature-256": hub_signature(secret, raw)})


def test_a_signed_delivery_to_a_registered_endpoint_is_stored_in_its_tenant_and_feeds_its_tables(acme, client):
    endpoint, secret = register(acme, "github")
    assert WebhookEndpoint.objects.get().secret == secret
    assert github_push(client, endpoint, secret).json() == {"status": "accepted"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint_id, delivery.tenant_id) == (endpoint.pk, acme.tenant_id)
    assert "X-Hub-Signature-256: current secret" in delivery.verification
    assert process_deliveries() == ["processed"]
    changes = signals_of(acme)["change"]
    assert sorted(change.sha[0] for change in changes) == ["a", "b"]
    assert {change.push for change in changes} == {"b" * 40}


def test_the_wrong_secret_another_providers_url_and_a_disabled_endpoint_store_nothing(acme, client):
    endpoint, secret = register(acme, "github")
    assert github_push(client, endpoint, "not-the-secret").status_code == 403
    assert client.post(f"/webhooks/jira/{endpoint.pk}", data=b"{}", content_type="application/json").status_code == 404
    registry.endpoint_update(tenant_id=acme.tenant_id, endpoint_id=endpoint.pk, user=acme.admin, enabled=False)
    assert github_push(client, endpoint, secret).status_code == 404
    assert not WebhookDelivery.objects.exists()
    registry.endpoint_update(tenant_id=acme.tenant_id, endpoint_id=endpoint.pk, user=acme.admin, enabled=True)
    assert github_push(client, endpoint, secret).status_code == 200


def test_the_same_delivery_id_at_two_tenants_endpoints_is_two_deliveries(acme, globex, client):
    mine, my_secret = register(acme, "github")
    theirs, their_secret = register(globex, "github")
    assert github_push(client, mine, my_secret).json() == {"status": "accepted"}
    assert github_push(client, theirs, their_secret).json() == {"status": "accepted"}
    assert github_push(client, theirs, their_secret).json() == {"status": "duplicate"}
    assert sorted(WebhookDelivery.objects.values_list("tenant_id", flat=True)) == sorted(
        [acme.tenant_id, globex.tenant_id])
    assert github_push(client, mine, their_secret, delivery="d-2").status_code == 403


def test_a_rotated_secret_keeps_the_previous_one_verifying_until_the_overlap_ends(acme, client):
    endpoint, old = register(acme, "github")
    endpoint, new = registry.endpoint_rotate(tenant_id=acme.tenant_id, endpoint_id=endpoint.pk, user=acme.admin,
                                             overlap=timedelta(hours=1))
    assert new != old
    assert github_push(client, endpoint, new, delivery="d-new").status_code == 200
    assert github_push(client, endpoint, old, delivery="d-old").status_code == 200
    assert "previous secret" in WebhookDelivery.objects.get(dedup_key="d-old").verification
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    assert github_push(client, endpoint, old, delivery="d-late").status_code == 403
    assert github_push(client, endpoint, new, delivery="d-late").status_code == 200
