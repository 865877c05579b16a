"""Old webhook bodies and message texts go with LOG_RETENTION_DAYS; the rows and their keys stay, so a
replay is still recognised."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.registries import prunables
from integrations.models import OutboundMessage, WebhookDelivery
from operations.retention import logs_prune

pytestmark = pytest.mark.django_db

NAMES = ["integrations.webhook_delivery_bodies", "integrations.outbound_message_texts"]


def test_old_bodies_are_emptied_and_the_rows_kept(client, webhooks):
    old = timezone.now() - timedelta(days=40)
    webhooks.github("push", {"ref": "refs/heads/main"}, delivery_id="old-delivery")
    WebhookDelivery.objects.update(status="processed", received_at=old)
    webhooks.github("push", {"ref": "refs/heads/main"}, delivery_id="new-delivery")
    OutboundMessage.objects.create(channel="sms", to="+15550100001", text="old secret", purpose="reply",
                                   idempotency_key="old", status="sent", next_attempt_at=old)
    OutboundMessage.objects.filter(idempotency_key="old").update(created_at=old)
    OutboundMessage.objects.create(channel="sms", to="+15550100001", text="waiting", purpose="reply",
                                   idempotency_key="queued", next_attempt_at=old)
    OutboundMessage.objects.filter(idempotency_key="queued").update(created_at=old)

    assert set(NAMES) <= set(prunables())
    figures = logs_prune(days=30, only=NAMES)
    assert figures["rows"] == 2
    kept = WebhookDelivery.objects.get(dedup_key="old-delivery")
    assert (kept.body, kept.headers) == ("", {})
    assert WebhookDelivery.objects.get(dedup_key="new-delivery").body
    assert OutboundMessage.objects.get(idempotency_key="old").text == ""
    assert OutboundMessage.objects.get(idempotency_key="queued").text == "waiting"  # not sent yet: kept whole

    replay = webhooks.github("push", {"ref": "refs/heads/main"}, delivery_id="old-delivery")
    assert replay.json()["status"] == "duplicate"
