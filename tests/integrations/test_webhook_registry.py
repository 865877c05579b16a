"""A tenant's own webhook endpoints: /webhooks/<provider>/<endpoint id>, verified with the endpoint's secret,
stored once per endpoint, in the endpoint's tenant; disabled ones answer 404 and store nothing; a rotated
secret keeps the previous one verifying for the overlap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from django.test import TestCase

from core.errors import Invalid
from integrations import registry, services
from integrations.models import WebhookDelivery, WebhookEndpoint
from memory.models import EpisodicEvent
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


def test_a_secret_the_vendor_issued_is_taken_as_given_and_checked(acme, client):
    vendor_secret = "pd-issued-" + "x" * 40
    endpoint, secret = register(acme, "github", name="given", secret=vendor_secret)
    assert secret == vendor_secret
    assert github_push(client, endpoint, vendor_secret).status_code == 200
    with pytest.raises(Invalid):
        register(acme, "github", name="too short", secret="short")
    with pytest.raises(Invalid):
        registry.endpoint_rotate(tenant_id=acme.tenant_id, endpoint_id=endpoint.pk, user=acme.admin,
                                 secret="has spaces in it, which no vendor sends")


def test_the_api_registers_an_endpoint_shows_its_secret_once_and_rotates_it(acme):
    created = acme.admin_api.post("/api/integrations/endpoints", {"provider": "pagerduty", "name": "on-call"},
                                  format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"] == f"http://testserver/webhooks/pagerduty/{body['id']}" and body["secret"]
    assert body["signs"] is True and "X-PagerDuty-Signature" in body["verification"]
    assert created["Cache-Control"] == "no-store"
    listed = acme.admin_api.get("/api/integrations/endpoints").json()["results"]
    assert [item["id"] for item in listed] == [body["id"]] and "secret" not in listed[0]
    rotated = acme.admin_api.post(f"/api/integrations/endpoints/{body['id']}/rotate", {"overlap_seconds": 60},
                                  format="json").json()
    assert rotated["secret"] != body["secret"] and rotated["previous_secret_valid_until"]
    off = acme.admin_api.patch(f"/api/integrations/endpoints/{body['id']}", {"enabled": False}, format="json")
    assert off.json()["enabled"] is False
    assert acme.submitter_api.get("/api/integrations/endpoints").status_code == 403
    unknown = acme.admin_api.post("/api/integrations/endpoints", {"provider": "myspace", "name": "x"}, format="json")
    assert unknown.status_code == 400 and not WebhookEndpoint.objects.filter(name="x").exists()


def test_a_delivery_that_keeps_failing_ends_a_dead_letter_and_is_redriven_in_bulk(acme, client, monkeypatch):
    published = []
    monkeypatch.setattr(services, "_publish", lambda delivery_id, countdown=0: published.append(delivery_id))
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret, delivery="d-1")
    github_push(client, endpoint, secret, delivery="d-2")

    def broken(**kwargs):
        raise RuntimeError("the tables are down")

    monkeypatch.setattr(services, "inbound_event_receive", broken)
    for _ in range(services.MAX_PROCESSING_ATTEMPTS):
        process_deliveries()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    assert "the tables are down" in WebhookDelivery.objects.first().error
    monkeypatch.undo()
    monkeypatch.setattr(services, "_publish", lambda delivery_id, countdown=0: published.append(delivery_id))
    dead = acme.admin_api.get("/api/integrations/deliveries?status=failed").json()
    assert dead["count"] == 2
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = acme.admin_api.post("/api/integrations/deliveries/redrive", {}, format="json")
    assert answer.status_code == 202 and answer.json() == {"redriven": 2}
    assert process_deliveries() == ["processed", "processed"]
    assert len(signals_of(acme)["change"]) == 2


def test_a_replay_processes_a_delivery_again_without_doing_twice_what_it_did(acme, client, monkeypatch):
    monkeypatch.setattr(services, "_publish", lambda delivery_id, countdown=0: None)
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret)
    process_deliveries()
    delivery = WebhookDelivery.objects.get()
    episodes = EpisodicEvent.objects.count()
    replayed = acme.admin_api.post(f"/api/integrations/deliveries/{delivery.pk}/replay")
    assert replayed.status_code == 202 and replayed.json()["replays"] == 1
    assert acme.admin_api.post(f"/api/integrations/deliveries/{delivery.pk}/replay").status_code == 409
    assert process_deliveries() == ["processed"]
    assert EpisodicEvent.objects.count() == episodes and len(signals_of(acme)["change"]) == 2
    assert acme.admin_api.get(f"/api/integrations/deliveries/{delivery.pk}").json()["body"].startswith("{")


def test_one_tenant_never_sees_or_replays_anothers_deliveries(acme, globex, client):
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret)
    delivery = WebhookDelivery.objects.get()
    assert globex.admin_api.get("/api/integrations/deliveries").json()["count"] == 0
    assert globex.admin_api.get(f"/api/integrations/deliveries/{delivery.pk}").status_code == 404
    assert globex.admin_api.post(f"/api/integrations/deliveries/{delivery.pk}/replay").status_code == 404
    assert globex.admin_api.get(f"/api/integrations/endpoints/{endpoint.pk}").status_code == 404


def test_engineering_events_that_cannot_be_stored_do_not_lose_the_rest_of_the_delivery(acme, client, monkeypatch):
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret)

    def broken(**kwargs):
        raise RuntimeError("no such column")

    monkeypatch.setattr(services, "signals_store", broken)
    assert process_deliveries() == ["processed"]
    delivery = WebhookDelivery.objects.get()
    assert "engineering events not stored: RuntimeError: no such column" in delivery.error
    assert EpisodicEvent.objects.filter(metadata__delivery_id=delivery.pk).exists()


def test_an_attempt_whose_worker_died_still_counts_so_the_delivery_ends_a_dead_letter(acme, client, monkeypatch):
    monkeypatch.setattr(services, "_publish", lambda delivery_id, countdown=0: None)
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret)
    # Each attempt was claimed (counted) and its worker killed before it finished: nothing else was recorded.
    WebhookDelivery.objects.update(attempts=services.MAX_PROCESSING_ATTEMPTS)
    assert process_deliveries() == ["failed"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "never finished" in delivery.error


def test_a_pruned_delivery_cannot_be_replayed(acme, client):
    endpoint, secret = register(acme, "github")
    github_push(client, endpoint, secret)
    process_deliveries()
    WebhookDelivery.objects.update(body="", headers={})
    delivery = WebhookDelivery.objects.get()
    answer = acme.admin_api.post(f"/api/integrations/deliveries/{delivery.pk}/replay")
    assert answer.status_code == 409 and "pruned" in answer.json()["error"]["message"]


def test_an_inactive_deployment_status_leaves_a_finished_deployment_as_it_ended(acme, client):
    """GitHub marks an environment's older deployment inactive when a newer one is made (auto_inactive): the
    older one stays a success, finished when it finished."""
    endpoint, secret = register(acme, "github")
    deployment = {"id": 7001, "sha": "a" * 40, "environment": "production", "created_at": "2026-11-02T10:00:00Z",
                  "payload": {}, "description": "Deploy"}

    def status(state: str, created_at: str, delivery: str):
        raw = __import__("json").dumps({
            "action": "created", "deployment": deployment, "repository": PUSH["repository"],
            "deployment_status": {"id": 1, "state": state, "created_at": created_at, "target_url": ""}}).encode()
        assert send(client, endpoint, body=raw, headers={
            "X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": hub_signature(secret, raw)}).status_code == 200

    status("success", "2026-11-02T10:05:00Z", "d-success")
    status("inactive", "2026-11-03T09:00:00Z", "d-inactive")
    assert process_deliveries() == ["processed", "processed"]
    [row] = signals_of(acme)["deployment"]
    assert (row.status, row.finished_at.isoformat()) == ("success", "2026-11-02T10:05:00+00:00")
