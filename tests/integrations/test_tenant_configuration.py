"""A tenant's integrations configuration at work: a provider it turned off refuses its messages (the outbox
row fails, saying why; nothing is sent, nothing lost silently) and its webhooks (404, nothing stored); its own
daily cap holds messages like the deployment's; and a running worker refuses the very next message after the
change, within a second of the commit, without a restart."""

import pytest
from django.db import transaction
from django.utils import timezone

from core.configuration import services as configuration
from integrations import outbound
from integrations.models import OutboundMessage, WebhookDelivery
from tests.conftest import wait_for
from tests.integrations.conftest import deliver_outbox, hub_signature
from tests.integrations.registered import register, send

SLACK_OFF = {"providers": {"slack": False}}


def configure(team, content, *, committed=None):
    def change():
        return configuration.config_update(tenant_id=team.tenant_id, document="integrations", content=content,
                                           user=team.admin, reason="test")

    if committed is None:
        return change()
    with committed():
        return change()


def queue(team, key, channel="slack", to="C0ALERTS"):
    return outbound.message_queue(tenant_id=team.tenant_id, channel=channel, to=to, text=f"hello {key}",
                                  purpose="message", idempotency_key=f"config-test:{key}")


@pytest.mark.django_db
def test_a_message_to_a_provider_the_tenant_turned_off_fails_saying_why(acme, globex, fake_vendors):
    configure(acme, SLACK_OFF)
    refused, theirs = queue(acme, "acme"), queue(globex, "globex")
    assert outbound.message_send(message_id=refused.pk) == "failed"
    assert outbound.message_send(message_id=theirs.pk) == "sent", "another tenant's Slack is on"
    refused.refresh_from_db()
    assert refused.status == "failed" and "turned off for this tenant" in refused.error
    assert len(fake_vendors.slack.delivered("chat.postMessage")) == 1
    configure(acme, {})  # on again: an admin's Retry sends it
    assert outbound.message_retry(message_id=refused.pk)
    assert outbound.message_send(message_id=refused.pk) == "sent"


@pytest.mark.django_db
def test_a_tenants_own_daily_cap_holds_its_messages_until_tomorrow(acme, globex, fake_vendors):
    configure(acme, {"daily_caps": {"sms": 1}})
    for key in ("a", "b"):
        queue(acme, key, channel="sms", to="+15550100001")
    queue(globex, "g", channel="sms", to="+15550100002")
    assert deliver_outbox() == ["sent", "daily-cap", "sent"]
    held = OutboundMessage.objects.get(status="queued")
    assert held.tenant_id == acme.tenant_id and "daily_caps.sms" in held.error and held.attempts == 0


@pytest.mark.django_db
def test_a_webhook_to_a_provider_the_tenant_turned_off_is_a_404_and_stores_nothing(acme, client):
    endpoint, secret = register(acme, "github")
    configure(acme, {"providers": {"github": False}})
    raw = b'{"zen": "off"}'
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-off", "X-Hub-Signature-256": hub_signature(secret, raw)}
    response = send(client, endpoint, body=raw, headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not WebhookDelivery.objects.exists()
    configure(acme, {})
    assert send(client, endpoint, body=raw, headers=headers).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker_process")
def test_a_running_worker_refuses_the_next_slack_message_within_a_second_of_the_change(acme, fake_vendors):
    # The worker's processes read acme's configuration (and keep it) while sending these.
    warm = [queue(acme, f"warm-{n}") for n in range(4)]
    wait_for(lambda: OutboundMessage.objects.filter(pk__in=[m.pk for m in warm], status="sent").count() == 4,
             timeout=30, message="the first messages sent")

    with transaction.atomic():
        configure(acme, SLACK_OFF)
    changed_at = timezone.now()  # committed, and announced
    message = queue(acme, "after-the-change")

    refused = wait_for(lambda: OutboundMessage.objects.filter(pk=message.pk, status__in=["failed", "sent"]).first(),
                       timeout=30, message="the message after the change settled")
    assert refused.status == "failed" and "turned off for this tenant" in refused.error, refused.error
    latency = (refused.updated_at - changed_at).total_seconds()
    print(f"\nconfiguration change to the worker's refusal: {latency * 1000:.0f} ms")
    assert latency < 1.0, f"refused {latency:.3f}s after the change"
    assert len(fake_vendors.slack.delivered("chat.postMessage")) == 4


@pytest.mark.django_db
def test_a_tenants_memory_search_cap_answers_429_once_reached(acme, globex):
    from core.clients import redis_client

    for key in redis_client().scan_iter("emma:memory:searches:*"):
        redis_client().delete(key)
    configure(acme, {"daily_caps": {"memory_searches": 2}})
    answers = [acme.submitter_api.get("/api/memory/search", {"query": "office"}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    refused = acme.submitter_api.get("/api/memory/search", {"query": "office"})
    assert "memory_searches" in refused.json()["error"]["message"] and int(refused["Retry-After"]) > 0
    assert globex.submitter_api.get("/api/memory/search", {"query": "office"}).status_code == 200
