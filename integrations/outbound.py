"""The outbox: every message Emma sends is a row first, then a send that survives failing providers.

- Stored once per idempotency key (a task id, a delivery id, an escalation and approver...), so
  whatever calls twice queues once.
- Sent by claiming the row (queued → sending, a conditional UPDATE): two workers never both send it.
  The provider's id is stored in the same UPDATE that marks it sent.
- A provider error worth retrying (5xx, 429, timeout) puts it back in the queue with exponential
  backoff; after MAX_ATTEMPTS it is `failed`, with its error, and an admin can retry it.
- An open breaker, the rate limit and the daily cap delay a message without using an attempt.
- A worker that dies mid-send leaves the row `sending`; when its lease runs out the sweep fails it as
  "outcome unknown" rather than sending again (a Slack post has no idempotency key: a resend could
  double it). Edits (chat.update) are idempotent and are simply queued again.
  The one window left: the provider accepted the message and the process died before our UPDATE
  committed. Then the message was delivered but shows `failed` (outcome unknown); it is never sent twice
  unless a person presses Retry."""

import logging
import random
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import queueing
from integrations import breaker, configuration, limits, providers
from integrations.errors import NotConfigured, ProviderError, SendResult
from integrations.metrics import OUTBOUND_MESSAGES
from integrations.models import Channel, OutboundMessage

logger = logging.getLogger(__name__)
Status = OutboundMessage.Status

PROVIDER_OF = {Channel.SLACK: "slack", Channel.SMS: "twilio", Channel.WHATSAPP: "waba"}
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 2.0  # 2, 4, 8, 16 s... with jitter
BACKOFF_CAP_SECONDS = 60.0  # the house rule: no countdown over a minute
# A send holds its claim this long; client timeouts are far shorter.
LEASE = timedelta(seconds=60)
# The sweep republishes a due message only this late, so it rarely races the countdown that is on its way.
SWEEP_GRACE = timedelta(seconds=10)
# Longest text per channel: Slack's advised maximum, Twilio's 10 segments, WhatsApp's body limit.
TEXT_LIMITS = {Channel.SLACK: 3900, Channel.SMS: 1600, Channel.WHATSAPP: 4096}
ORIGINAL_WAIT_SECONDS = 2.0


def channel_available(channel: str) -> bool:
    """Enabled and configured: worth queueing a message for."""
    from integrations.slack import client as slack
    from integrations.twilio import client as twilio
    from integrations.waba import client as waba

    client = {Channel.SLACK: slack, Channel.SMS: twilio, Channel.WHATSAPP: waba}.get(channel)
    return client is not None and providers.enabled(PROVIDER_OF[channel]) and client.configured()


def _truncate(channel: str, text: str) -> str:
    limit = TEXT_LIMITS[channel]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _publish(message_id: int, countdown: float = 0) -> None:
    """Hand the send to the broker; a failure is logged, and the sweep publishes the row again."""
    from integrations.tasks import send_message

    queueing.publish(send_message, message_id, countdown=countdown)


def message_queue(*, channel: str, to: str, text: str, purpose: str, idempotency_key: str, tenant_id=None,
                  blocks: list | None = None, recipient_id=None, task_id=None, escalation_id=None,
                  operation: str = OutboundMessage.Operation.POST, original_id=None,
                  publish: bool = True) -> OutboundMessage:
    """Store a message once per idempotency key and send it after commit; the same key again returns
    the stored row and sends nothing."""
    message, created = OutboundMessage.objects.get_or_create(idempotency_key=idempotency_key[:255], defaults={
        "tenant_id": tenant_id, "channel": channel, "to": to, "text": _truncate(channel, text), "blocks": blocks,
        "purpose": purpose, "recipient_id": recipient_id, "task_id": task_id, "escalation_id": escalation_id,
        "operation": operation, "original_id": original_id, "next_attempt_at": timezone.now()})
    if created and publish:
        transaction.on_commit(lambda: _publish(message.pk))
    return message


def _release(message_id: int, *, until, reason: str, outcome: str, channel: str) -> str:
    """Back to the queue until `until`, without using an attempt; republished when that is within a minute."""
    now = timezone.now()
    OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.QUEUED, next_attempt_at=until, lease_until=None, error=reason[:2000], updated_at=now)
    OUTBOUND_MESSAGES.labels(channel=channel, outcome="deferred").inc()
    wait = (until - now).total_seconds()
    if wait <= BACKOFF_CAP_SECONDS:
        _publish(message_id, countdown=wait)
    return outcome


def _fail(message_id: int, error: str, channel: str) -> str:
    OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.FAILED, lease_until=None, error=error[:2000], updated_at=timezone.now())
    OUTBOUND_MESSAGES.labels(channel=channel, outcome="failed").inc()
    logger.warning("outbound message %s failed: %s", message_id, error)
    return "failed"


def _call_provider(message: OutboundMessage) -> SendResult:
    from integrations.slack import client as slack
    from integrations.twilio import client as twilio
    from integrations.waba import client as waba

    key = message.idempotency_key
    if message.channel == Channel.SLACK:
        if message.operation == OutboundMessage.Operation.UPDATE:
            original = message.original
            return slack.update_message(channel=original.provider_channel, ts=original.provider_message_id,
                                        text=message.text, blocks=message.blocks)
        return slack.post_message(to=message.to, text=message.text, blocks=message.blocks, idempotency_key=key)
    if message.channel == Channel.SMS:
        return twilio.send_sms(to=message.to, text=message.text, idempotency_key=key)
    return waba.send_text(to=message.to, text=message.text, idempotency_key=key)


def _sent_today(channel: str, tenant_id: int | None = None):
    def count() -> int:
        midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        sent = OutboundMessage.objects.filter(channel=channel, status=Status.SENT, sent_at__gte=midnight)
        return (sent if tenant_id is None else sent.filter(tenant_id=tenant_id)).count()

    return count


def message_send(*, message_id: int) -> str:
    """Send one queued, due message once: claim it, pass the breaker, the rate limit and the daily
    cap, call the provider, and record the outcome. Returns what happened, for the log."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(pk=message_id, status=Status.QUEUED, next_attempt_at__lte=now).update(
        status=Status.SENDING, lease_until=now + LEASE, updated_at=now)
    if not claimed:
        return "not-claimed"
    message = OutboundMessage.objects.select_related("original").get(pk=message_id)
    channel = message.channel
    provider = PROVIDER_OF[channel]
    if not providers.enabled(provider):
        return _fail(message_id, f"the {provider} integration is disabled (INTEGRATIONS_{provider.upper()}_ENABLED)",
                     channel)
    if not configuration.provider_enabled(provider, message.tenant_id):
        # Refused, not held: a person turned it off. The row stays, failed with why; Retry sends it once it is on.
        return _fail(message_id, f"the {provider} integration is turned off for this tenant (providers.{provider} of "
                                 "its integrations configuration, /api/config/integrations)", channel)

    if message.operation == OutboundMessage.Operation.UPDATE:
        original = message.original
        if original is None or original.status in (Status.FAILED, Status.CANCELLED):
            OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
                status=Status.CANCELLED, lease_until=None, error="the message to edit was never sent")
            return "cancelled"
        if original.status != Status.SENT:
            return _release(message_id, until=now + timedelta(seconds=ORIGINAL_WAIT_SECONDS), channel=channel,
                            reason="waiting for the message it edits to be sent", outcome="waiting-for-original")

    gate = breaker.acquire(provider)
    if not gate.allowed:
        until = datetime.fromtimestamp(gate.retry_at, tz=dt_timezone.utc) + timedelta(
            seconds=random.uniform(0, 0.5))
        return _release(message_id, until=until, channel=channel, outcome="breaker-open",
                        reason=f"waiting: the {provider} circuit is {gate.state} (the provider failed repeatedly)")
    if not limits.rate_acquire(provider):
        if gate.probe:
            breaker.release_probe(provider)
        return _release(message_id, until=now + timedelta(seconds=random.uniform(1.0, 1.5)), channel=channel,
                        outcome="rate-limited", reason=f"waiting: over {limits.rate_per_second(provider):g} "
                                                       f"{provider} sends a second")
    counted = message.operation == OutboundMessage.Operation.POST  # edits do not count against the cap
    capped = counted and limits.daily_reserve(channel, sent_today=_sent_today(channel), tenant_id=message.tenant_id,
                                              tenant_sent_today=_sent_today(channel, message.tenant_id))
    if capped:
        if gate.probe:
            breaker.release_probe(provider)
        return _release(message_id, until=limits.next_utc_midnight(now), channel=channel, outcome="daily-cap",
                        reason=f"waiting until 00:00 UTC: {capped}")

    OutboundMessage.objects.filter(pk=message_id).update(attempts=F("attempts") + 1)
    attempt = message.attempts + 1
    try:
        result = _call_provider(message)
    except NotConfigured as exc:
        if gate.probe:
            breaker.release_probe(provider)
        if counted:
            limits.daily_release(channel, message.tenant_id)
        return _fail(message_id, f"{channel} is not configured: {exc}", channel)
    except ProviderError as exc:
        if counted:
            limits.daily_release(channel, message.tenant_id)
        if not exc.retryable:
            breaker.record_success(provider)  # it answered: the provider is up, this request is wrong
            return _fail(message_id, str(exc), channel)
        breaker.record_failure(provider, probe=gate.probe)
        if attempt >= MAX_ATTEMPTS:
            return _fail(message_id, f"gave up after {attempt} attempts: {exc}", channel)
        OUTBOUND_MESSAGES.labels(channel=channel, outcome="retried").inc()
        delay = queueing.backoff_seconds(attempt, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)
        OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
            status=Status.QUEUED, next_attempt_at=timezone.now() + timedelta(seconds=delay), lease_until=None,
            error=f"attempt {attempt} failed, retrying in {delay:.1f}s: {exc}"[:2000], updated_at=timezone.now())
        _publish(message_id, countdown=delay)
        return "retrying"
    except Exception as exc:  # a bug of ours fails the message, never the worker; the breaker is not told
        logger.exception("outbound message %s could not be sent", message_id)
        if gate.probe:
            breaker.release_probe(provider)
        if counted:
            limits.daily_release(channel, message.tenant_id)
        return _fail(message_id, f"{type(exc).__name__}: {exc}", channel)
    breaker.record_success(provider)
    sent_at = timezone.now()
    OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.SENT, provider_message_id=result.provider_message_id[:255],
        provider_channel=result.provider_channel[:64], sent_at=sent_at, lease_until=None, error="",
        updated_at=sent_at)
    OUTBOUND_MESSAGES.labels(channel=channel, outcome="sent").inc()
    _remember(message)
    return "sent"


def _remember(message: OutboundMessage) -> None:
    """What Emma said goes into the tenant's episodic memory (a failure here never unsends anything)."""
    if message.tenant_id is None or message.operation != OutboundMessage.Operation.POST:
        return
    from memory.services import episode_record

    try:
        episode_record(tenant_id=message.tenant_id, kind="outbound_message", source=message.channel, actor="emma",
                       content=message.text, task_id=message.task_id,
                       metadata={"to": message.to, "purpose": message.purpose, "message_id": message.pk})
    except Exception:
        logger.exception("could not record outbound message %s in episodic memory", message.pk)


# --- sweeps and admin -----------------------------------------------------------------------------


def messages_send_due(*, limit: int = 500) -> dict:
    """Publish due messages whose send message was lost (broker down at commit, a lost countdown), and
    settle sends whose worker died: edits are queued again, posts fail as "outcome unknown"."""
    now = timezone.now()
    due = list(OutboundMessage.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now - SWEEP_GRACE)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for message_id in due:
        _publish(message_id)
    stuck = OutboundMessage.objects.filter(status=Status.SENDING, lease_until__lt=now)
    requeued = stuck.filter(operation=OutboundMessage.Operation.UPDATE).update(
        status=Status.QUEUED, next_attempt_at=now, lease_until=None, error="its worker stopped mid-send; queued again")
    unknown = stuck.filter(operation=OutboundMessage.Operation.POST).update(
        status=Status.FAILED, lease_until=None, updated_at=now,
        error="outcome unknown: the worker stopped while sending, so the provider may or may not have it. "
              "Check with the recipient before retrying.")
    return {"published": len(due), "requeued": requeued, "unknown": unknown}


@transaction.atomic
def message_retry(*, message_id: int) -> bool:
    """A failed message gets a fresh set of attempts and is sent again (the admin's Retry)."""
    retried = OutboundMessage.objects.filter(pk=message_id, status=Status.FAILED).update(
        status=Status.QUEUED, attempts=0, next_attempt_at=timezone.now(), error="", lease_until=None,
        updated_at=timezone.now())
    if retried:
        transaction.on_commit(lambda: _publish(message_id))
    return bool(retried)
