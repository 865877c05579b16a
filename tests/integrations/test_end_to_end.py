"""The issue's "done when", across the real pieces: signed requests to the web app, a real broker and a
real Celery worker, and fake vendors on loopback that record what Emma sends them."""

import re
import time
import uuid

import pytest

from emma.models import AgentTask
from governance.models import Escalation
from integrations import breaker, health, outbound
from integrations.models import OutboundMessage, RoutingRule, WebhookDelivery
from memory import services as memory_services
from memory.models import EpisodicEvent
from tests.conftest import wait_for, wait_for_status
from tests.integrations.conftest import failed_workflow_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]


@pytest.fixture
def team(acme, make_user, link):
    acme.bob = make_user(username="acme-bob", tenant="acme", role="approver")
    link(acme.submitter, "slack", "U0SAM")
    link(acme.approver, "slack", "U0ADA")
    link(acme.bob, "sms", "+15550100003")
    return acme


def slack_posts_to(vendor, channel):
    return [r["body"] for r in vendor.delivered("chat.postMessage") if r["body"]["channel"] == channel]


def test_slash_command_then_approve_button(team, webhooks, fake_vendors, settings):
    settings.LLM_BASE_URL = ""
    memory_services.memory_store(tenant_id=team.tenant_id, source="handbook",
                                 content="Deploys are frozen on Fridays after 15:00.")
    team.set_policy(rules={"assistant.request": "escalate"})

    assert webhooks.slack_command(user_id="U0SAM", text="Can I deploy on Friday afternoon?").status_code == 200
    task = wait_for(lambda: AgentTask.objects.filter(task_type="assistant.request").first(), message="the task")
    assert task.status == "pending_approval" and task.submitter == team.submitter

    request = wait_for(lambda: slack_posts_to(fake_vendors.slack, "U0ADA"), message="the approval request")[0]
    approve = request["blocks"][1]["elements"][0]
    escalation = Escalation.objects.get(task_id=task.pk)
    response = webhooks.slack_button(user_id="U0ADA", action_id=approve["action_id"], code=approve["value"],
                                     escalation_id=escalation.pk)
    assert response.status_code == 200

    wait_for_status(task.pk, "succeeded", timeout=60)
    escalation.refresh_from_db()
    assert (escalation.status, escalation.decided_by, escalation.decision_channel) == (
        "approved", team.approver, "slack")
    answers = wait_for(lambda: [p for p in slack_posts_to(fake_vendors.slack, "U0SAM") if "Fridays" in p["text"]],
                       message="the answer in Sam's DM")
    assert len(answers) == 1
    update = wait_for(lambda: fake_vendors.slack.delivered("chat.update"), message="the approval message edited")
    assert update[0]["body"]["channel"] == "D0ADA"
    assert "Approved by acme-approver via slack" in update[0]["body"]["text"]


def test_sms_no_with_a_code_rejects(team, webhooks, fake_vendors):
    body = team.submit(task_type="message.send", description="Tell the customer",
                       parameters={"channel": "sms", "to": "+15550199999", "text": "Your order shipped"})
    sms = wait_for(lambda: [r["body"] for r in fake_vendors.twilio.delivered() if r["body"]["To"] == "+15550100003"],
                   message="the approval request by SMS")[0]
    code = re.search(r"NO (\d{6}) <reason>", sms["Body"]).group(1)
    assert webhooks.sms(sender="+15550100003", text=f"NO {code} too expensive").status_code == 200
    wait_for_status(body["task_id"], "rejected")
    escalation = Escalation.objects.get(pk=body["escalation_id"])
    assert (escalation.decision_reason, escalation.decision_channel) == ("too expensive", "sms")
    wait_for(lambda: any(r["body"]["Body"].startswith("Rejected") for r in fake_vendors.twilio.delivered()),
             message="the reply to Bob")
    assert not any(r["body"]["To"] == "+15550199999" for r in fake_vendors.twilio.delivered())  # never sent


def test_whatsapp_verify_handshake(client):
    response = client.get("/webhooks/waba/messages", {"hub.mode": "subscribe", "hub.challenge": "42",
                                                      "hub.verify_token": "waba-verify-token-for-tests"})
    assert (response.status_code, response.content) == (200, b"42")


def test_github_delivery_sent_twice_is_processed_once(team, webhooks, fake_vendors):
    RoutingRule.objects.create(tenant_id=team.tenant_id, name="CI failures", provider="github",
                               event_type="workflow_run", match={"workflow_run.conclusion": "failure"},
                               channel="slack", to="C0ALERTS", run_as=team.admin)
    delivery_id = str(uuid.uuid4())
    first = webhooks.github("workflow_run", failed_workflow_run(), delivery_id=delivery_id, tenant="acme")
    second = webhooks.github("workflow_run", failed_workflow_run(), delivery_id=delivery_id, tenant="acme")
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    wait_for(lambda: slack_posts_to(fake_vendors.slack, "C0ALERTS"), message="the CI alert in #alerts")
    assert WebhookDelivery.objects.get().status == "processed"
    assert AgentTask.objects.filter(task_type="notify").count() == 1
    assert EpisodicEvent.objects.filter(source="github").count() == 1
    post = slack_posts_to(fake_vendors.slack, "C0ALERTS")
    assert len(post) == 1 and "workflow “CI” failure on main in acme/shop" in post[0]["text"]


@pytest.mark.slow
def test_a_failing_provider_trips_the_breaker_and_every_queued_message_is_delivered_once(team, fake_vendors, client):
    fake_vendors.slack.fail()  # 500 until recovered
    for i in range(8):
        outbound.message_queue(tenant_id=team.tenant_id, channel="slack", to="C0OPS", text=f"status {i}",
                               purpose="message", idempotency_key=f"ops:{i}")
    wait_for(lambda: breaker.states()["slack"]["state"] == "open", message="the breaker to open")
    check = health.breakers_check()
    assert check["status"] == "fail" and check["breakers"]["slack"]["state"] == "open"
    checks = client.get("/health").json()["checks"]
    if "integrations" in checks:  # wired into /health
        assert checks["integrations"]["breakers"]["slack"]["state"] == "open"
    assert not OutboundMessage.objects.filter(status="failed").exists()
    # While open the provider is left alone: at most one probe per cool-down reaches it.
    failures_at_open = fake_vendors.slack.failures()
    time.sleep(3)
    assert fake_vendors.slack.failures() - failures_at_open <= 3
    assert not OutboundMessage.objects.filter(status="failed").exists()  # waiting costs no attempt

    fake_vendors.slack.recover()
    wait_for(lambda: OutboundMessage.objects.filter(status="sent").count() == 8, timeout=90,
             message="every queued message to be delivered")
    assert breaker.states()["slack"]["state"] == "closed"
    keys = [r["body"]["metadata"]["event_payload"]["idempotency_key"] for r in fake_vendors.slack.delivered()]
    assert sorted(keys) == sorted(f"ops:{i}" for i in range(8))  # each exactly once
