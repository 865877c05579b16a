"""A webhook provider is a declaration: registered once, served by the one webhook view, and its stored
deliveries normalised into events that the same services act on."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import reverse

from config.settings import base
from integrations import providers, services
from integrations.errors import missing
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, WebhookProvider
from integrations.webhooks import WebhookView, header, json_body, json_object
from memory.models import EpisodicEvent

pytestmark = pytest.mark.django_db

TOKEN = "acme-token-for-tests"


def verify(request):
    if request.headers.get("X-Acme-Token") != TOKEN:
        raise missing("signature")


def normalise(delivery):
    payload = json_object(delivery.body)
    if payload["kind"] == "heartbeat":
        return [providers.ignored("a heartbeat")]
    return [providers.tool_event(payload=payload, summary=f"Acme: {payload['title']}", actor="robot")]


@pytest.fixture
def acme_monitor(acme, settings, monkeypatch):
    """A provider declared the way integrations/<provider>/inbound.py declare theirs, registered for this test."""
    monkeypatch.setattr(providers, "_registry", dict(providers._registry))
    settings.INTEGRATIONS_ENABLED = {**settings.INTEGRATIONS_ENABLED, "acme": True}
    return providers.register(WebhookProvider(
        name="acme", switch="acme", verify=verify, normalise=normalise,
        endpoints=(Endpoint(path="acme", url_name="webhook-acme", parse=json_body, dedup_key=header("X-Acme-Id"),
                            event_type=lambda request, payload: payload["kind"],
                            tenant=lambda request: acme.tenant_id),),
    ))


def post(provider, payload, *, delivery_id="d-1", token=TOKEN):
    view = WebhookView.for_endpoint(provider, provider.endpoints[0])
    return view(RequestFactory().post("/webhooks/acme", data=json.dumps(payload), content_type="application/json",
                                      headers={"X-Acme-Token": token, "X-Acme-Id": delivery_id}))


def test_a_declared_provider_is_verified_stored_once_and_acted_on(acme_monitor, acme):
    assert post(acme_monitor, {"kind": "alert", "title": "Disk full"}, token="wrong").status_code == 401
    first = post(acme_monitor, {"kind": "alert", "title": "Disk full"})
    again = post(acme_monitor, {"kind": "alert", "title": "Disk full"})
    assert (first.status_code, json.loads(first.content)) == (200, {"status": "accepted"})
    assert (again.status_code, json.loads(again.content)) == (200, {"status": "duplicate"})
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.dedup_key, delivery.event_type) == ("acme", "d-1", "alert")
    assert services.delivery_process(delivery_id=delivery.pk) == "processed"
    episode = EpisodicEvent.objects.get()
    assert (episode.tenant_id, episode.source, episode.actor, episode.content) == (
        acme.tenant_id, "acme", "robot", "Acme: Disk full")


def test_a_delivery_its_normaliser_ignores_is_ignored_with_the_reason(acme_monitor):
    post(acme_monitor, {"kind": "heartbeat"})
    delivery = WebhookDelivery.objects.get()
    assert services.delivery_process(delivery_id=delivery.pk) == "ignored"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error) == ("ignored", "a heartbeat")
    assert not EpisodicEvent.objects.exists()


def test_a_switched_off_provider_answers_404(acme_monitor, settings):
    settings.INTEGRATIONS_ENABLED = {**settings.INTEGRATIONS_ENABLED, "acme": False}
    assert post(acme_monitor, {"kind": "alert", "title": "Disk full"}).status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_a_second_provider_on_a_taken_path_is_refused(monkeypatch):
    monkeypatch.setattr(providers, "_registry", dict(providers._registry))
    github = providers.provider("github")
    impostor = WebhookProvider(name="impostor", switch="github", verify=verify, normalise=normalise,
                               endpoints=github.endpoints)
    with pytest.raises(ImproperlyConfigured):
        providers.register(impostor)
    assert [p.name for p in providers.registered()].count("impostor") == 0


def test_every_registered_endpoint_is_routed_and_has_a_switch_in_settings():
    for provider in providers.registered():
        assert provider.switch in base.INTEGRATIONS_ENABLED, provider.name
        for endpoint in provider.endpoints:
            assert reverse(endpoint.url_name) == f"/webhooks/{endpoint.path}"
