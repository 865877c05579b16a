"""Requests from Slack, SMS and WhatsApp: a known sender's message becomes an `assistant.request` task
through the same service as the API, the reply says what governance decided, and the answer comes back
on the same channel. Unknown senders are politely refused and nothing runs."""

import pytest

from emma import services as emma_services
from emma.models import AgentTask
from integrations.models import OutboundMessage, WebhookDelivery
from memory import services as memory_services
from memory.models import EpisodicEvent
from tests.integrations.conftest import deliver_outbox, process_deliveries

pytestmark = pytest.mark.django_db

NOTE = "The staging database is rebuilt every Sunday at 02:00 UTC."


@pytest.fixture
def sam(acme, link):
    link(acme.submitter, "slack", "U0SAM")
    link(acme.submitter, "sms", "+1 (555) 010-0001")
    link(acme.submitter, "whatsapp", "+15550100001")
    return acme.submitter


def test_slash_command_from_a_known_member_submits_an_assistant_request(webhooks, sam, fake_vendors):
    response = webhooks.slack_command(user_id="U0SAM", text="When is staging rebuilt?")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert process_deliveries() == ["processed"]
    task = AgentTask.objects.get()
    assert (task.task_type, task.submitter, task.channel, task.decision) == (
        "assistant.request", sam, "slack", "allow")  # low risk, nothing leaves: no approval needed
    assert task.parameters == {"channel": "slack", "to": "U0SAM", "question": "When is staging rebuilt?"}
    reply = OutboundMessage.objects.get(purpose="reply")
    assert reply.to == "U0SAM" and "working on it" in reply.text
    assert deliver_outbox() == ["sent"]
    assert fake_vendors.slack.delivered("chat.postMessage")[0]["body"]["channel"] == "U0SAM"


def test_the_answer_comes_back_on_the_channel_the_request_came_from(webhooks, sam, acme, fake_vendors, settings):
    settings.LLM_BASE_URL = ""
    memory_services.memory_store(tenant_id=acme.tenant_id, content=NOTE, source="handbook")
    webhooks.sms(sender="+15550100001", text="When is the staging database rebuilt?")
    process_deliveries()
    task = AgentTask.objects.get()
    assert task.parameters["to"] == "+15550100001"  # normalised
    emma_services.task_execute(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == "succeeded", task.error
    assert task.result["reply"]["status"] == "sent"
    answers = [r["body"] for r in fake_vendors.twilio.delivered()]
    assert any("Sunday at 02:00 UTC" in a["Body"] and a["To"] == "+15550100001" for a in answers)
    assert "[" not in answers[-1]["Body"]  # memory ids stay in the task result, not the text message
    assert task.result["citations"]


def test_whatsapp_message_from_a_known_sender_submits_a_task(webhooks, sam, fake_vendors):
    assert webhooks.whatsapp(sender="+15550100001", text="What's on today?").status_code == 200
    assert process_deliveries() == ["processed"]
    assert AgentTask.objects.get().channel == "whatsapp"
    deliver_outbox()
    sent = fake_vendors.waba.delivered()
    assert sent[0]["body"]["to"] == "15550100001" and "working on it" in sent[0]["body"]["text"]["body"]


def test_unknown_sender_gets_a_polite_refusal_and_nothing_runs(webhooks, acme, fake_vendors):
    webhooks.sms(sender="+15559999999", text="delete everything")
    webhooks.sms(sender="+15559999999", text="please?")
    assert process_deliveries() == ["ignored", "ignored"]
    assert AgentTask.objects.count() == 0
    refusal = OutboundMessage.objects.get()  # one refusal an hour per address, however many messages
    assert refusal.tenant is None and "not linked to Emma" in refusal.text
    deliver_outbox()
    assert fake_vendors.twilio.delivered()[0]["body"]["To"] == "+15559999999"
    assert WebhookDelivery.objects.filter(status="ignored").count() == 2


def test_a_redelivered_message_is_processed_once(webhooks, sam):
    webhooks.sms(sender="+15550100001", text="status?", sid="SMsame")
    webhooks.sms(sender="+15550100001", text="status?", sid="SMsame")
    assert process_deliveries() == ["processed"]
    delivery = WebhookDelivery.objects.get()
    from integrations import services

    assert services.delivery_process(delivery_id=delivery.pk) == "not-pending"
    assert AgentTask.objects.count() == 1 and OutboundMessage.objects.count() == 1


def test_escalated_request_is_told_it_waits_for_approval(webhooks, sam, acme):
    acme.set_policy(rules={"assistant.request": "escalate"})
    webhooks.slack_command(user_id="U0SAM", text="Summarise the incident")
    process_deliveries()
    assert AgentTask.objects.get().status == "pending_approval"
    assert "needs an approval first" in OutboundMessage.objects.get(purpose="reply").text


def test_denied_request_is_told_why(webhooks, sam, acme):
    acme.set_policy(rules={"assistant.request": "deny"})
    webhooks.whatsapp(sender="+15550100001", text="anything")
    process_deliveries()
    assert AgentTask.objects.get().status == "rejected"
    assert "not allowed" in OutboundMessage.objects.get(purpose="reply").text


def test_inbound_messages_are_remembered_as_episodes(webhooks, sam, acme):
    webhooks.slack_event({"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "message", "channel_type": "im", "user": "U0SAM", "text": "Remind me about the audit"}})
    process_deliveries()
    episode = EpisodicEvent.objects.get(kind="inbound_message")
    assert (episode.tenant_id, episode.source, episode.actor) == (acme.tenant_id, "slack", sam.username)


def test_bot_messages_and_channel_chatter_are_acknowledged_and_not_stored(webhooks, sam):
    bot = webhooks.slack_event({"type": "event_callback", "event_id": "Ev2", "event": {
        "type": "message", "channel_type": "im", "user": "U0SAM", "bot_id": "B1", "text": "Got it"}})
    chatter = webhooks.slack_event({"type": "event_callback", "event_id": "Ev3", "event": {
        "type": "message", "channel_type": "channel", "user": "U0SAM", "text": "lunch?"}})
    assert (bot.status_code, chatter.status_code) == (200, 200)
    assert not WebhookDelivery.objects.exists()
    assert AgentTask.objects.count() == 0 and OutboundMessage.objects.count() == 0


def test_whatsapp_delivery_statuses_are_acknowledged_and_not_stored(client):
    import json

    from tests.integrations.conftest import WABA_APP_SECRET, hub_signature

    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "statuses": [{"id": "wamid.1", "status": "delivered"}]}}]}]}).encode()
    response = client.post("/webhooks/waba/messages", data=body, content_type="application/json",
                           headers={"X-Hub-Signature-256": hub_signature(WABA_APP_SECRET, body)})
    assert response.status_code == 200 and not WebhookDelivery.objects.exists()


def test_sms_carrier_keywords_are_left_to_twilio(webhooks, sam):
    webhooks.sms(sender="+15550100001", text="STOP")
    assert process_deliveries() == ["ignored"]
    assert not AgentTask.objects.exists() and not OutboundMessage.objects.exists()


def test_app_mention_is_a_request_without_the_mention(webhooks, sam):
    webhooks.slack_event({"type": "event_callback", "event_id": "Ev4", "event": {
        "type": "app_mention", "channel": "C1", "user": "U0SAM", "text": "<@U0EMMA> what broke last night?"}})
    process_deliveries()
    assert AgentTask.objects.get().parameters["question"] == "what broke last night?"


def test_assistant_request_answers_only_its_requester(acme, sam, link):
    """Through the API a submitter cannot use assistant.request to text someone else."""
    link(acme.approver, "sms", "+15550100002")
    body = acme.submit(task_type="assistant.request", parameters={
        "channel": "sms", "to": "+15550100002", "question": "hi"})
    emma_services.task_execute(task_id=body["task_id"])
    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.status == "failed" and "answers only its requester" in task.error
    assert not OutboundMessage.objects.exists()


def test_message_send_is_governed(acme):
    body = acme.submit(task_type="message.send", parameters={"channel": "sms", "to": "+15550100009", "text": "hi"})
    assert body["decision"] == "escalate"
    assert any("external side effects" in reason for reason in body["decision_reasons"])
