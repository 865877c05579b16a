"""The outbox against fake vendors: retries with backoff, never twice, a shared circuit breaker that
holds messages while a provider is down and delivers each exactly once after it recovers, the rate
limit, the daily caps, and a one-click retry for what finally failed."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest

from integrations import breaker, health, outbound
from integrations.metrics import IntegrationsCollector
from integrations.models import OutboundMessage
from tests.conftest import run_concurrently
from tests.integrations.conftest import BREAKER_COOLDOWN_SECONDS, deliver_outbox

pytestmark = pytest.mark.django_db


def queue(n=1, channel="slack", to="C0ALERTS", prefix="msg"):
    return [outbound.message_queue(channel=channel, to=to, text=f"hello {i}", purpose="message",
                                   idempotency_key=f"{prefix}:{i}") for i in range(n)]


def make_due(*messages):
    """Time passes: the backoff (or the wait) of these messages, or of every queued one, is over."""
    waiting = OutboundMessage.objects.filter(status="queued")
    if messages:
        waiting = waiting.filter(pk__in=[m.pk for m in messages])
    waiting.update(next_attempt_at=timezone.now())


def receipts_per_key(vendor) -> dict:
    counts = {}
    for request in vendor.delivered("chat.postMessage"):
        key = request["body"]["metadata"]["event_payload"]["idempotency_key"]
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- sending once -----------------------------------------------------------------------------------


def test_the_same_key_queues_one_message_and_sends_it_once(fake_vendors):
    first = outbound.message_queue(channel="sms", to="+15550100001", text="hi", purpose="message",
                                   idempotency_key="task:1")
    again = outbound.message_queue(channel="sms", to="+15550100001", text="hi again", purpose="message",
                                   idempotency_key="task:1")
    assert first.pk == again.pk
    assert outbound.message_send(message_id=first.pk) == "sent"
    assert outbound.message_send(message_id=first.pk) == "not-claimed"
    sent = fake_vendors.twilio.delivered()
    assert len(sent) == 1 and sent[0]["headers"]["Idempotency-Key"] == "task:1"
    first.refresh_from_db()
    assert first.status == "sent" and first.provider_message_id.startswith("SM") and first.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_racing_workers_send_a_message_once(fake_vendors):
    fake_vendors.slack.delay = 0.2  # all are in flight together
    # Not published: the session's worker, if one runs, must not be a fifth contender.
    message = outbound.message_queue(channel="slack", to="C0ALERTS", text="once", purpose="message",
                                     idempotency_key="msg:0", publish=False)
    outcomes = run_concurrently(lambda _: outbound.message_send(message_id=message.pk), range(4))
    assert sorted(outcomes) == ["not-claimed"] * 3 + ["sent"]
    assert receipts_per_key(fake_vendors.slack) == {"msg:0": 1}


def test_provider_errors_are_retried_with_backoff_until_sent(fake_vendors):
    fake_vendors.waba.fail(times=2, status=503)
    (message,) = queue(channel="whatsapp", to="+15550100004")
    assert outbound.message_send(message_id=message.pk) == "retrying"
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1 and "503" in message.error
    assert timedelta(seconds=0.9) < message.next_attempt_at - timezone.now() < timedelta(seconds=2.1)
    assert outbound.message_send(message_id=message.pk) == "not-claimed"  # not due yet
    make_due(message)
    assert outbound.message_send(message_id=message.pk) == "retrying"
    message.refresh_from_db()
    assert timedelta(seconds=1.9) < message.next_attempt_at - timezone.now() < timedelta(seconds=4.1)
    make_due(message)
    assert outbound.message_send(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("sent", 3, "")
    assert len(fake_vendors.waba.delivered()) == 1


def test_a_message_that_exhausts_its_retries_fails_and_can_be_retried(fake_vendors, settings):
    settings.INTEGRATIONS_BREAKER_THRESHOLD = 50  # this test is about the retries, not the breaker
    fake_vendors.twilio.fail(status=500)
    (message,) = queue(channel="sms", to="+15550100001")
    outcomes = []
    for _ in range(outbound.MAX_ATTEMPTS):
        make_due(message)
        outcomes.append(outbound.message_send(message_id=message.pk))
    assert outcomes == ["retrying"] * 4 + ["failed"]
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 5 and "gave up after 5 attempts" in message.error
    fake_vendors.twilio.recover()
    assert outbound.message_retry(message_id=message.pk)
    assert outbound.message_send(message_id=message.pk) == "sent"


def test_a_refusal_fails_at_once_and_does_not_count_against_the_breaker(fake_vendors):
    fake_vendors.twilio.fail(times=1, status=400)
    (message,) = queue(channel="sms", to="+15550100001")
    assert outbound.message_send(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.attempts == 1 and "400" in message.error
    assert breaker.states()["twilio"] == {"state": "closed", "consecutive_failures": 0}


def test_an_unconfigured_channel_fails_the_message_with_the_reason(settings):
    settings.SLACK_BOT_TOKEN = ""
    (message,) = queue()
    assert outbound.message_send(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert "SLACK_BOT_TOKEN" in message.error


# --- the circuit breaker ------------------------------------------------------------------------------


def test_breaker_opens_after_five_failures_holds_messages_and_delivers_each_once_after_recovery(fake_vendors):
    fake_vendors.slack.fail()  # 500 until recovered
    messages = queue(8)
    outcomes = deliver_outbox()
    assert outcomes == ["retrying"] * 5 + ["breaker-open"] * 3
    assert breaker.states()["slack"]["state"] == "open"
    assert fake_vendors.slack.failures() == 5  # no request reached the provider once it opened
    check = health.breakers_check()
    assert check["status"] == "fail" and check["breakers"]["slack"]["state"] == "open"
    assert "slack" in check["error"]
    held = OutboundMessage.objects.filter(pk__in=[m.pk for m in messages[5:]])
    assert {(m.status, m.attempts) for m in held} == {("queued", 0)}  # waiting costs no attempt
    assert all("circuit is open" in m.error for m in held)

    make_due()
    assert set(deliver_outbox()) == {"breaker-open"}  # still cooling down
    time.sleep(BREAKER_COOLDOWN_SECONDS + 0.1)
    make_due()
    # Half-open: the first message is the probe; it fails, so the breaker opens again for everyone.
    assert deliver_outbox()[:2] == ["retrying", "breaker-open"]
    assert breaker.states()["slack"]["state"] == "open"

    fake_vendors.slack.recover()
    time.sleep(BREAKER_COOLDOWN_SECONDS + 0.1)
    make_due()
    assert set(deliver_outbox()) == {"sent"}
    assert breaker.states()["slack"]["state"] == "closed"
    assert health.breakers_check()["status"] == "ok"
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert receipts_per_key(fake_vendors.slack) == {f"msg:{i}": 1 for i in range(8)}


def test_only_one_probe_goes_while_half_open(fake_vendors):
    fake_vendors.slack.fail()
    queue(5)
    deliver_outbox()
    time.sleep(BREAKER_COOLDOWN_SECONDS + 0.1)
    gates = [breaker.acquire("slack") for _ in range(3)]
    assert [g.probe for g in gates] == [True, False, False]
    assert [g.allowed for g in gates] == [True, False, False]


def test_breakers_are_per_provider(fake_vendors):
    fake_vendors.slack.fail()
    queue(5)
    deliver_outbox()
    (sms,) = queue(channel="sms", to="+15550100001", prefix="sms")
    assert outbound.message_send(message_id=sms.pk) == "sent"
    assert breaker.states()["twilio"]["state"] == "closed"


def test_breaker_state_is_in_metrics(fake_vendors):
    fake_vendors.slack.fail()
    queue(5)
    deliver_outbox()
    registry = CollectorRegistry()
    registry.register(IntegrationsCollector())
    text = generate_latest(registry).decode()
    assert 'emma_integration_breaker_state{provider="slack",state="open"} 1.0' in text
    assert 'emma_integration_breaker_state{provider="twilio",state="closed"} 1.0' in text
    assert 'emma_outbound_messages_in_status{channel="slack",status="queued"} 5.0' in text


def test_health_shows_the_breakers(client, fake_vendors):
    """/health carries integrations.health.breakers_check once it is wired into emma/health.py."""
    fake_vendors.slack.fail()
    queue(5)
    deliver_outbox()
    body = client.get("/health").json()
    if "integrations" not in body["checks"]:
        pytest.skip("integrations.health.breakers_check is not wired into /health yet (emma/health.py)")
    assert body["status"] == "degraded"
    assert body["checks"]["integrations"]["breakers"]["slack"]["state"] == "open"


# --- rate limit and daily caps ---------------------------------------------------------------------


def test_rate_limit_defers_without_using_attempts(fake_vendors, settings):
    settings.INTEGRATIONS_RATE_PER_SEC = {**settings.INTEGRATIONS_RATE_PER_SEC, "slack": 2.0}
    queue(5)
    now = time.time()
    if now - int(now) > 0.8:  # keep the five sends inside one second
        time.sleep(1 - (now - int(now)))
    outcomes = deliver_outbox()
    assert outcomes.count("sent") == 2 and outcomes.count("rate-limited") == 3
    waiting = OutboundMessage.objects.filter(status="queued")
    assert {m.attempts for m in waiting} == {0}
    assert all(timezone.now() < m.next_attempt_at < timezone.now() + timedelta(seconds=2) for m in waiting)


def test_daily_cap_holds_messages_until_tomorrow(fake_vendors, settings):
    settings.MAX_DAILY_MESSAGES = {**settings.MAX_DAILY_MESSAGES, "sms": 2}
    queue(3, channel="sms", to="+15550100001")
    assert deliver_outbox() == ["sent", "sent", "daily-cap"]
    held = OutboundMessage.objects.get(status="queued")
    tomorrow = (timezone.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert held.next_attempt_at == tomorrow and held.attempts == 0
    assert "MAX_DAILY_SMS_MESSAGES" in held.error
    (slack,) = queue(prefix="other")  # other channels have their own cap
    assert outbound.message_send(message_id=slack.pk) == "sent"


def test_daily_cap_counts_what_was_sent_today_even_after_redis_forgets(fake_vendors, settings):
    from integrations import limits

    queue(2, channel="sms", to="+15550100001")
    deliver_outbox()
    limits.reset()  # a Redis restart
    settings.MAX_DAILY_MESSAGES = {**settings.MAX_DAILY_MESSAGES, "sms": 2}
    (third,) = queue(channel="sms", to="+15550100001", prefix="third")
    assert outbound.message_send(message_id=third.pk) == "daily-cap"


# --- sweeps ---------------------------------------------------------------------------------------------


def test_a_send_whose_worker_died_fails_as_outcome_unknown_and_is_never_resent(fake_vendors):
    post, = queue()
    original = OutboundMessage.objects.create(channel="slack", to="U1", text="x", purpose="approval_request",
                                              idempotency_key="orig", status="sent", provider_message_id="1.2",
                                              provider_channel="D1", next_attempt_at=timezone.now())
    edit = OutboundMessage.objects.create(channel="slack", to="D1", text="decided", purpose="decision_update",
                                          idempotency_key="edit", operation="update", original=original,
                                          next_attempt_at=timezone.now())
    gone = timezone.now() - timedelta(seconds=1)
    OutboundMessage.objects.filter(pk__in=[post.pk, edit.pk]).update(status="sending", lease_until=gone)
    result = outbound.messages_send_due()
    assert (result["requeued"], result["unknown"]) == (1, 1)
    post.refresh_from_db()
    edit.refresh_from_db()
    assert post.status == "failed" and "outcome unknown" in post.error
    assert edit.status == "queued"  # an edit is idempotent: sent again
    assert outbound.message_send(message_id=edit.pk) == "sent"
    assert fake_vendors.slack.delivered("chat.update")[0]["body"]["ts"] == "1.2"


def test_an_edit_waits_for_the_message_it_edits(fake_vendors):
    original, = queue()
    edit = outbound.message_queue(channel="slack", to="C0ALERTS", text="decided", purpose="decision_update",
                                  idempotency_key="edit", operation="update", original_id=original.pk)
    assert outbound.message_send(message_id=edit.pk) == "waiting-for-original"
    assert outbound.message_send(message_id=original.pk) == "sent"
    make_due(edit)
    assert outbound.message_send(message_id=edit.pk) == "sent"


# --- admin -------------------------------------------------------------------------------------------


def test_failed_messages_show_a_retry_button_that_requeues_them(admin_client, fake_vendors):
    fake_vendors.slack.fail(times=1, status=200, body={"ok": False, "error": "channel_not_found"})
    message, = queue()
    outbound.message_send(message_id=message.pk)
    page = admin_client.get("/admin/integrations/outboundmessage/")
    assert page.status_code == 200 and b">Retry</button>" in page.content
    response = admin_client.post(f"/admin/integrations/outboundmessage/{message.pk}/retry/")
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("queued", 0, "")
    assert admin_client.get(f"/admin/integrations/outboundmessage/{message.pk}/change/").status_code == 200


def test_tenant_admins_retry_only_their_tenants_messages(client, acme, globex, fake_vendors):
    fake_vendors.slack.fail(times=2, status=200, body={"ok": False, "error": "channel_not_found"})
    ours = outbound.message_queue(tenant_id=acme.tenant_id, channel="slack", to="C1", text="a", purpose="message",
                                  idempotency_key="ours")
    theirs = outbound.message_queue(tenant_id=globex.tenant_id, channel="slack", to="C2", text="b",
                                    purpose="message", idempotency_key="theirs")
    deliver_outbox()
    client.force_login(acme.admin)
    client.post(f"/admin/integrations/outboundmessage/{ours.pk}/retry/")
    client.post(f"/admin/integrations/outboundmessage/{theirs.pk}/retry/")
    assert OutboundMessage.objects.get(pk=ours.pk).status == "queued"
    assert OutboundMessage.objects.get(pk=theirs.pk).status == "failed"
