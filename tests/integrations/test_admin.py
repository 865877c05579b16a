"""The integrations' admin screens: identities and routing rules are edited with their checks; the
deliveries and the outbox are listed."""

import pytest

from integrations.models import ChannelIdentity, RoutingRule

pytestmark = pytest.mark.django_db


def test_admin_screens_render(admin_client):
    for name in ("channelidentity", "routingrule", "webhookdelivery", "outboundmessage", "githubinstallation",
                 "githubrequest", "webhookendpoint"):
        assert admin_client.get(f"/admin/integrations/{name}/").status_code == 200
    for name in ("channelidentity", "routingrule", "webhookendpoint"):
        assert admin_client.get(f"/admin/integrations/{name}/add/").status_code == 200


def test_adding_an_identity_normalises_the_number_and_checks_the_tenant(admin_client, acme, globex):
    response = admin_client.post("/admin/integrations/channelidentity/add/", {
        "tenant": acme.tenant_id, "user": acme.approver.pk, "channel": "sms", "address": "+1 (555) 010-0002"})
    assert response.status_code == 302, response.content
    assert ChannelIdentity.objects.get().address == "+15550100002"
    wrong_tenant = admin_client.post("/admin/integrations/channelidentity/add/", {
        "tenant": globex.tenant_id, "user": acme.submitter.pk, "channel": "slack", "address": "U0SAM"})
    assert wrong_tenant.status_code == 200 and b"not a member of the chosen tenant" in wrong_tenant.content
    taken = admin_client.post("/admin/integrations/channelidentity/add/", {
        "tenant": acme.tenant_id, "user": acme.admin.pk, "channel": "sms", "address": "+15550100002"})
    assert taken.status_code == 200 and ChannelIdentity.objects.count() == 1


def test_adding_a_routing_rule(admin_client, acme):
    response = admin_client.post("/admin/integrations/routingrule/add/", {
        "tenant": acme.tenant_id, "name": "CI failures", "provider": "github", "event_type": "workflow_run",
        "action": "notify", "match": '{"workflow_run.conclusion": "failure"}', "channel": "slack", "to": "C0ALERTS",
        "run_as": acme.admin.pk, "enabled": "on"})
    assert response.status_code == 302, response.content
    assert RoutingRule.objects.get().match == {"workflow_run.conclusion": "failure"}


def test_tenant_admins_register_rotate_and_switch_their_endpoints_in_the_admin(acme, globex):
    from django.test import Client

    from integrations import registry
    from integrations.models import WebhookEndpoint

    client = Client()
    client.force_login(acme.admin)
    added = client.post("/admin/integrations/webhookendpoint/add/", {
        "provider": "datadog", "name": "monitors", "options": '{"header": "X-Acme-Secret"}'}, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.tenant_id == acme.tenant_id and endpoint.options == {"header": "X-Acme-Secret"}
    assert endpoint.secret.encode() in added.content  # shown once, in the message
    listed = client.get("/admin/integrations/webhookendpoint/").content
    assert endpoint.path.encode() in listed and endpoint.secret.encode() not in listed
    page = client.get(f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/").content
    assert b"X-Acme-Secret" in page and b"cannot sign" in page and endpoint.secret.encode() not in page
    old = endpoint.secret
    client.post("/admin/integrations/webhookendpoint/", {"action": "rotate_secret",
                                                         "_selected_action": [str(endpoint.pk)]}, follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    client.post("/admin/integrations/webhookendpoint/", {"action": "switch_off",
                                                         "_selected_action": [str(endpoint.pk)]})
    assert WebhookEndpoint.objects.get().enabled is False
    theirs, _ = registry.endpoint_create(tenant_id=globex.tenant_id, user=globex.admin, provider="github", name="x")
    assert str(theirs.pk).encode() not in client.get("/admin/integrations/webhookendpoint/").content
    assert client.get(f"/admin/integrations/webhookendpoint/{theirs.pk}/change/").status_code == 302
    approver = Client()
    approver.force_login(acme.approver)
    assert approver.get("/admin/integrations/webhookendpoint/").status_code == 403


def test_a_delivery_is_replayed_from_its_button_and_dead_letters_redriven_by_the_action(acme, monkeypatch):
    from django.test import Client

    from integrations import services
    from integrations.models import WebhookDelivery

    monkeypatch.setattr(services, "_publish", lambda delivery_id, countdown=0: None)
    done = WebhookDelivery.objects.create(provider="github", tenant_id=acme.tenant_id, dedup_key="d-1",
                                          status="processed", body="{}")
    dead = WebhookDelivery.objects.create(provider="github", tenant_id=acme.tenant_id, dedup_key="d-2",
                                          status="failed", attempts=3, body="{}")
    client = Client()
    client.force_login(acme.admin)
    page = client.get("/admin/integrations/webhookdelivery/").content
    assert b">Replay<" in page and b">Redrive<" in page
    client.post(f"/admin/integrations/webhookdelivery/{done.pk}/replay/")
    client.post("/admin/integrations/webhookdelivery/", {"action": "redrive_selected",
                                                         "_selected_action": [str(done.pk), str(dead.pk)]})
    assert dict(WebhookDelivery.objects.values_list("dedup_key", "status")) == {"d-1": "received",
                                                                               "d-2": "received"}
    assert WebhookDelivery.objects.get(pk=done.pk).replays == 1
