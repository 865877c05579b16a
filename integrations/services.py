"""Inbound writes: store each delivery once, process it once, and act on what it says.

A delivery is processed in one transaction with its row locked: the task it submits, the escalation
it decides, the replies it queues and the episodes it records commit together with `processed`, or
not at all (then it is tried again). Replies leave after the commit, through the outbox."""

import hashlib
import logging
import re
from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import observability, queueing
from core.errors import ApplicationError, Conflict, Invalid, NotFound, error_text
from emma import llm
from emma.services import task_submit
from integrations import approvals, chat_runs, outbound, providers, selectors
from integrations.github import runs as github_runs
from integrations.dora.services import signals_store
from integrations.metrics import DELIVERIES_PROCESSED
from integrations.models import Channel, ChannelIdentity, RoutingRule, WebhookDelivery, normalized_address
from memory.services import episode_record

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status

MAX_PROCESSING_ATTEMPTS = 3
# A delivery still `received` this long after it arrived lost its processing message: publish it again.
REPUBLISH_AFTER = timedelta(seconds=60)
# `YES 123456` / `NO 123456 too expensive` (any case; a colon or dash after the code is fine).
DECISION_REPLY = re.compile(r"^\s*(yes|no)\s+(\d{6})\b[\s:,.\-]*(.*)$", re.IGNORECASE | re.DOTALL)
ASSISTANT_TASK = "assistant.request"
QUESTION_MAX_CHARS = 2000

REFUSAL = {
    Channel.SLACK: "Sorry, your Slack account is not linked to Emma, so I can't act on it. "
                   "Ask your Emma administrator to add it.",
    Channel.SMS: "Sorry, this number is not linked to Emma, so I can't act on messages from it. "
                 "Ask your Emma administrator to add it.",
    Channel.WHATSAPP: "Sorry, this WhatsApp number is not linked to Emma, so I can't act on messages from it. "
                      "Ask your Emma administrator to add it.",
}
USAGE = {
    Channel.SLACK: "Tell me what you need: /emma <your request>. To decide an approval, use its buttons.",
    Channel.SMS: "Send me your request as a text. To decide an approval: YES <code> or NO <code> <reason>.",
    Channel.WHATSAPP: "Send me your request as a message. To decide an approval: YES <code> or NO <code> <reason>.",
}


# --- storing and processing deliveries ----------------------------------------------------------


def _key(dedup_key: str) -> str:
    return dedup_key if len(dedup_key) <= 255 else "sha256:" + hashlib.sha256(dedup_key.encode()).hexdigest()


def _publish(delivery_id: int, countdown: float = 0) -> None:
    from integrations.tasks import process_delivery

    queueing.publish(process_delivery, delivery_id, countdown=countdown)


@transaction.atomic
def delivery_store(*, provider: str, dedup_key: str, event_type: str = "", headers: dict | None = None,
                   body: str = "", tenant_id=None, endpoint=None, verification: str = "") -> tuple[WebhookDelivery, bool]:
    """Store a verified delivery once per (provider, dedup key), or per (registered endpoint, dedup key), and
    process it after commit. The same key again (a redelivery) returns the stored row and processes nothing."""
    delivery, created = WebhookDelivery.objects.get_or_create(
        provider=provider, endpoint=endpoint, dedup_key=_key(dedup_key),
        defaults={"event_type": event_type[:100], "headers": headers or {}, "body": body, "tenant_id": tenant_id,
                  "verification": verification[:200]})
    if created:
        transaction.on_commit(lambda: _publish(delivery.pk))
    return delivery, created


def delivery_process(*, delivery_id: int) -> str:
    """Process a received delivery once. The row is locked (a duplicate message skips it) and must
    still be `received`. Its provider's normaliser says what it holds; each event is acted on, and
    the delivery is processed when one of them was (else ignored, with the first event's reason)."""
    claimed = _attempt_claim(delivery_id)
    if claimed:
        return claimed
    try:
        with transaction.atomic():
            delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True)
                        .filter(pk=delivery_id, status=Status.RECEIVED).first())
            if delivery is None:
                return "not-pending"
            provider = providers.provider(delivery.provider)
            stored = signals_receive(delivery=delivery, provider=provider)
            events = provider.normalise(delivery) if provider.normalise else signals_summary(delivery, stored)
            outcomes = [inbound_event_receive(delivery=delivery, event=event) for event in events]
            outcome = "processed" if "processed" in outcomes else (outcomes or ["ignored: nothing to act on"])[0]
            ignored = outcome.startswith("ignored")
            status = Status.IGNORED if ignored else Status.PROCESSED
            error = outcome.removeprefix("ignored: ") if ignored else ""
            error = "; ".join(filter(None, [error, getattr(delivery, "signals_error", "")]))
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=status, processed_at=timezone.now(), error=error, tenant_id=delivery.tenant_id)
    except Exception as exc:
        logger.exception("webhook delivery %s could not be processed", delivery_id)
        return _processing_failed(delivery_id, exc)
    DELIVERIES_PROCESSED.labels(provider=delivery.provider, status=status).inc()
    return status


def _attempt_claim(delivery_id: int) -> str | None:
    """Count an attempt before making it, in a commit of its own, so an attempt whose worker was killed (a time
    limit, an out-of-memory) still counts: a delivery that never finishes ends a dead letter instead of being
    published again for ever. None: go ahead; else why not ("not-pending", "failed")."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True)
                    .filter(pk=delivery_id, status=Status.RECEIVED).only("attempts", "provider", "error").first())
        if delivery is None:
            return "not-pending"
        if delivery.attempts >= MAX_PROCESSING_ATTEMPTS:
            WebhookDelivery.objects.filter(pk=delivery_id).update(status=Status.FAILED, error=delivery.error or (
                f"gave up after {delivery.attempts} attempts that never finished (the worker died or timed out)"))
            DELIVERIES_PROCESSED.labels(provider=delivery.provider, status=Status.FAILED).inc()
            return "failed"
        WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=F("attempts") + 1)
    return None


def _processing_failed(delivery_id: int, exc: Exception) -> str:
    """Try again later, with backoff, until MAX_PROCESSING_ATTEMPTS; then `failed`, for a person to look at."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    WebhookDelivery.objects.filter(pk=delivery_id, status=Status.RECEIVED).update(error=error)
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).only("attempts", "provider").first()
    if delivery is None:
        return "missing"
    if delivery.attempts >= MAX_PROCESSING_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.RECEIVED).update(status=Status.FAILED)
        DELIVERIES_PROCESSED.labels(provider=delivery.provider, status=Status.FAILED).inc()
        return "failed"
    _publish(delivery_id, countdown=queueing.backoff_seconds(delivery.attempts, base=2.0))
    return "retrying"


def deliveries_republish(*, limit: int = 500) -> int:
    """Publish again the deliveries still waiting long after they arrived (the broker was down)."""
    ids = list(WebhookDelivery.objects.filter(status=Status.RECEIVED,
                                              received_at__lte=timezone.now() - REPUBLISH_AFTER)
               .order_by("received_at").values_list("pk", flat=True)[:limit])
    for delivery_id in ids:
        _publish(delivery_id)
    return len(ids)


@transaction.atomic
def deliveries_redrive(*, ids=None, tenant_id: int | None = None, provider: str = "", limit: int = 1000) -> int:
    """Dead letters (`failed`) tried again from the start, in bulk: those named, or all of a tenant's (of one
    provider), at most `limit`. Answers how many; redriving one that is not failed changes nothing."""
    failed = WebhookDelivery.objects.filter(status=Status.FAILED)
    if ids is not None:
        failed = failed.filter(pk__in=list(ids))
    if tenant_id is not None:
        failed = failed.filter(tenant_id=tenant_id)
    if provider:
        failed = failed.filter(provider=provider)
    chosen = list(failed.order_by("received_at").values_list("pk", flat=True)[:limit])
    WebhookDelivery.objects.filter(pk__in=chosen, status=Status.FAILED).update(
        status=Status.RECEIVED, attempts=0, error="")
    transaction.on_commit(lambda: [_publish(delivery_id) for delivery_id in chosen])
    return len(chosen)


@transaction.atomic
def delivery_replay(*, delivery_id: int, tenant_id: int | None = None) -> WebhookDelivery:
    """Process a stored delivery again (a tenant admin's or an operator's replay). What it did the first time is
    not done twice: tasks are submitted under the delivery's idempotency keys, replies under its outbox keys,
    engineering events update their rows, and its episode is remembered once. Still waiting: Conflict."""
    deliveries = WebhookDelivery.objects.select_for_update()
    if tenant_id is not None:
        deliveries = deliveries.filter(tenant_id=tenant_id)
    delivery = deliveries.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    if delivery.status == Status.RECEIVED:
        raise Conflict("This delivery is waiting to be processed already.")
    if not delivery.body:
        raise Conflict("This delivery's body was pruned (LOG_RETENTION_DAYS): there is nothing to process again.")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=Status.RECEIVED, attempts=0, error="",
                                                          replays=F("replays") + 1)
    transaction.on_commit(lambda: _publish(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def signals_receive(*, delivery: WebhookDelivery, provider) -> list:
    """The delivery's engineering events, stored for the metrics (integrations.dora.services.signals_store), in a
    savepoint: a payload they cannot be read from is logged and noted on the delivery, and what else the delivery
    says (its episode, routing rules, a chat message) is still acted on."""
    from integrations.webhooks import json_object

    if provider.signals is None or delivery.tenant_id is None:
        return []
    local = delivery.endpoint_id and not (provider.registration and provider.registration.global_keys)
    try:
        with transaction.atomic():
            found = provider.signals(delivery, json_object(delivery.body))
            signals_store(tenant_id=delivery.tenant_id, provider=delivery.provider, delivery_id=delivery.pk,
                          signals=found, scope=str(delivery.endpoint_id) if local else "")
    except Exception as exc:  # noqa: BLE001 - a payload no reader expected must not lose the rest of the delivery
        logger.exception("engineering events of delivery %s could not be stored", delivery.pk)
        delivery.signals_error = f"engineering events not stored: {type(exc).__name__}: {exc}"[:2000]
        return []
    return found


def signals_summary(delivery: WebhookDelivery, found: list) -> list[providers.InboundEvent]:
    """A provider without its own normaliser: one tool event, remembered and routed, summarised from its
    engineering events (or its event type)."""
    from integrations.webhooks import json_object

    if not found:
        return [providers.ignored(f"{delivery.event_type or 'event'}: nothing about delivering software")]
    first = found[0]
    title = first.title or f"{first.kind} {first.key}"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    summary = f"{delivery.provider}: {first.kind} {title}{': ' + first.status if first.status else ''}{more}"
    return [providers.tool_event(payload=json_object(delivery.body), summary=summary[:2000], url=first.url)]


def inbound_event_receive(*, delivery: WebhookDelivery, event: providers.InboundEvent) -> str:
    """Act on one thing a delivery says, through the service for its kind; "processed" or "ignored: <why>"."""
    if event.kind == providers.CHAT_MESSAGE:
        return chat_message_receive(delivery=delivery, channel=event.channel, address=event.actor, text=event.text,
                                    part=event.part)
    if event.kind == providers.BUTTON_DECISION:
        return button_decision_receive(delivery=delivery, address=event.actor, approve=event.approve, code=event.code)
    if event.kind == providers.TOOL_EVENT:
        return event_receive(delivery=delivery, payload=event.payload, summary=event.summary, actor=event.actor,
                             url=event.url)
    return f"ignored: {event.reason or event.kind}"


# --- chat: Slack, SMS, WhatsApp -----------------------------------------------------------------


def _reply(*, delivery, identity: ChannelIdentity, channel: str, to: str, text: str, part: int = 0) -> None:
    outbound.message_queue(tenant_id=identity.tenant_id, channel=channel, to=to, text=text, purpose="reply",
                           idempotency_key=f"reply:{delivery.pk}" + (f":{part}" if part else ""),
                           recipient_id=identity.user_id)


def _refuse_unknown(*, channel: str, address: str) -> None:
    """One polite refusal an hour per unknown address: a stranger cannot make Emma text someone at will."""
    hour = timezone.now().strftime("%Y%m%d%H")
    outbound.message_queue(channel=channel, to=address, text=REFUSAL[channel], purpose="refusal",
                           idempotency_key=f"refusal:{channel}:{address}:{hour}")


def identity_create(*, tenant_id: int, user, channel: str, address: str) -> ChannelIdentity:
    """Link a Slack member or a phone number to a user (the admin form does the same checks)."""
    identity = ChannelIdentity(tenant_id=tenant_id, user=user, channel=channel, address=address)
    identity.full_clean()
    identity.save()
    return identity


def chat_message_receive(*, delivery: WebhookDelivery, channel: str, address: str, text: str, part: int = 0) -> str:
    """A message from a person: a decision code (`YES <code>`, `NO <code> <reason>`) decides an
    escalation; anything else is a request for the assistant. Unknown senders get a polite refusal
    and nothing runs. The answer goes back on the same channel, to the same sender. `part` tells apart
    several messages of one delivery (WhatsApp may batch them)."""
    address = normalized_address(channel, address)
    identity = selectors.identity_for(channel=channel, address=address)
    if identity is None:
        _refuse_unknown(channel=channel, address=address)
        return f"ignored: unknown {channel} sender"
    delivery.tenant_id = identity.tenant_id
    user = identity.user
    if delivery.processed_at is None:  # a replay of a processed delivery is remembered once
        episode_record(tenant_id=identity.tenant_id, kind="inbound_message", source=channel,
                       actor=user.get_username(), content=text[:20000], metadata={"delivery_id": delivery.pk})
    decision = DECISION_REPLY.match(text or "")
    if decision:
        verb, code, reason = decision.groups()
        _, reply = approvals.decision_by_code(user=user, code=code, approve=verb.lower() == "yes",
                                              reason=reason.strip(), channel=channel,
                                              correlation_id=observability.get_correlation_id() or "")
    elif not (text or "").strip():
        reply = USAGE[channel]
    else:
        reply = _request_submit(delivery=delivery, identity=identity, channel=channel, address=address, text=text,
                                part=part)
    _reply(delivery=delivery, identity=identity, channel=channel, to=address, text=reply, part=part)
    return "processed"


def button_decision_receive(*, delivery: WebhookDelivery, address: str, approve: bool, code: str) -> str:
    """An Approve/Reject button pressed in Slack: the same decision as a code, by the member who pressed
    it. A decision shows in the edited approval message; a refusal is told in a direct message."""
    identity = selectors.identity_for(channel=Channel.SLACK, address=address)
    if identity is None:
        _refuse_unknown(channel=Channel.SLACK, address=address)
        return "ignored: unknown slack sender"
    delivery.tenant_id = identity.tenant_id
    verb = "approved" if approve else "rejected"
    decided, reply = approvals.decision_by_code(user=identity.user, code=code, approve=approve,
                                                reason=f"{verb} with the Slack button", channel=Channel.SLACK,
                                                correlation_id=observability.get_correlation_id() or "")
    if not decided:
        _reply(delivery=delivery, identity=identity, channel=Channel.SLACK, to=identity.address, text=reply)
    return "processed"


def _request_submit(*, delivery, identity, channel: str, address: str, text: str, part: int = 0) -> str:
    """Submit through the same service as the API; the reply says what governance decided. With an LLM
    configured the request is an agent run, whose chat origin is recorded in the same transaction (its
    answer goes back there: integrations.chat_runs); without one, an `assistant.request`."""
    question = text.strip()[:QUESTION_MAX_CHARS]
    agent = llm.configured() is None
    try:
        result = task_submit(
            user=identity.user, task_type=chat_runs.AGENT_TASK if agent else ASSISTANT_TASK,
            description=text[:10000],
            parameters={"instructions": question} if agent else {"channel": channel, "to": address,
                                                                 "question": question},
            idempotency_key=f"webhook:{delivery.pk}" + (f":{part}" if part else ""), channel=channel,
            correlation_id=observability.get_correlation_id() or "")
    except ApplicationError as exc:
        return f"Sorry, I could not take that request: {error_text(exc)}"
    task = result.task
    if agent and task.decision != "deny":
        chat_runs.chat_request_record(task=task, identity=identity, channel=channel, to=address)
    reasons = "; ".join(task.decision_reasons)
    if task.decision == "allow":
        return "Got it, working on it. I'll answer here."
    if task.decision == "escalate":
        return f"Your request needs an approval first ({reasons}). I'll answer here once it is approved."
    return f"Sorry, that request is not allowed: {reasons}."


# --- events: GitHub, Jira, Sentry ----------------------------------------------------------------


def event_receive(*, delivery: WebhookDelivery, payload, summary: str, actor: str = "", url: str = "") -> str:
    """An event from a tool: remembered as an episode, then every matching routing rule of the tenant acts
    on it as the rule's `run_as` member: a `notify` rule submits a `notify` task with the event's summary;
    an `agent_run` rule (GitHub) starts an agent run when the event asks Emma (integrations.github.runs): only
    for a delivery of Emma's GitHub App on a repository of its installation, never a `?tenant=` webhook's.
    A rule refused (by governance's checks, a missing tool) is logged; the others still act."""
    if delivery.tenant_id is None:
        return "ignored: no tenant (add ?tenant=<slug> to the webhook URL, or set INTEGRATIONS_DEFAULT_TENANT)"
    if delivery.processed_at is None:  # a replay of a processed delivery is remembered once
        episode_record(tenant_id=delivery.tenant_id, kind="inbound_message", source=delivery.provider,
                       actor=actor[:150], content=summary,
                       metadata={"event_type": delivery.event_type, "delivery_id": delivery.pk, "url": url})
    refused = []
    for rule in selectors.routing_rules_matching(tenant_id=delivery.tenant_id, provider=delivery.provider,
                                                  event_type=delivery.event_type, payload=payload):
        try:
            if rule.action == RoutingRule.Action.AGENT_RUN:
                outcome = github_runs.run_start(delivery=delivery, rule=rule, event_type=delivery.event_type,
                                                payload=payload)
                if outcome != "processed":
                    logger.info("rule %s (%s) started no run for delivery %s: %s", rule.pk, rule.name, delivery.pk,
                                outcome.removeprefix("ignored: "))
                continue
            task_submit(user=rule.run_as, task_type="notify", description=f"{rule.name}: {summary}"[:10000],
                        parameters={"rule_id": rule.pk, "text": summary},
                        idempotency_key=f"webhook:route:{rule.pk}:{delivery.pk}", channel=delivery.provider,
                        correlation_id=observability.get_correlation_id() or "")
        except ApplicationError as exc:
            refused.append(f"rule {rule.pk} ({rule.name}): {error_text(exc)}")
    if refused:
        logger.warning("routing rules refused for delivery %s: %s", delivery.pk, "; ".join(refused))
    return "processed"


@transaction.atomic
def routing_rule_create(*, tenant_id: int, name: str, provider: str, run_as, action: str = "notify",
                        event_type: str = "", match: dict | None = None, channel: str = "", to: str = "",
                        tools: list[str] | None = None, enabled: bool = True) -> RoutingRule:
    """A routing rule, with the admin form's checks (RoutingRule.clean): a notify rule needs its channel and
    recipient; an agent_run rule is GitHub's, and its tools must exist (none named: the read-only GitHub
    tools); `run_as` must be a member of the tenant. Refused: Invalid, naming the field."""
    rule = RoutingRule(tenant_id=tenant_id, name=name, provider=provider, action=action, event_type=event_type,
                       match=match if match is not None else {}, channel=channel, to=to, run_as=run_as,
                       enabled=enabled, **({"tools": tools} if tools is not None else {}))
    try:
        rule.full_clean()
    except ValidationError as exc:
        raise Invalid(details={"" if field == NON_FIELD_ERRORS else field: messages
                               for field, messages in exc.message_dict.items()}) from None
    rule.save()
    return rule
