"""The integrations' admin screens: identities and routing rules are edited with their checks; the
deliveries and the outbox are listed."""

import pytest

from integrations.models import ChannelIdentity, RoutingRule

pytestmark = pytest.mark.django_db


def test_admin_screens_render(admin_client):
    for name in ("channelidentity", "routingrule", "webhookdelivery", "outboundmessage", "githubinstallation",
                 "githubrequest"):
        assert admin_client.get(f"/admin/integrations/{name}/").status_code == 200
    for name in ("channelidentity", "routingrule"):
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
