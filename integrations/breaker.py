"""A circuit breaker per outbound provider, shared by every worker through Redis.

closed → open after INTEGRATIONS_BREAKER_THRESHOLD (5) consecutive failures; open for
INTEGRATIONS_BREAKER_COOLDOWN_SECONDS (30); then half-open: one probe request at a time (a SET NX
lock), whose success closes the breaker and whose failure opens it for another cool-down.
Any success resets the failure count, so the failures must be consecutive across all workers.

Redis being unreachable never stops a send: the breaker then lets everything through (fails open)
and says so in the log; the provider's own errors still retry the message."""

import logging
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings

from core.clients import redis_client
from integrations.metrics import BREAKER_TRANSITIONS

logger = logging.getLogger(__name__)

PROVIDERS = ("slack", "twilio", "waba")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
PREFIX = "emma:integrations:breaker"
# A probe that neither succeeded nor failed in this long (its worker died) lets another one try.
PROBE_TTL_SECONDS = 30
# While a probe is in flight, the others look again after this long.
PROBE_WAIT_SECONDS = 1.0


def _keys(provider: str) -> tuple[str, str, str]:
    return f"{PREFIX}:{provider}:failures", f"{PREFIX}:{provider}:open_until", f"{PREFIX}:{provider}:probe"


def threshold() -> int:
    return settings.INTEGRATIONS_BREAKER_THRESHOLD


def cooldown_seconds() -> float:
    return settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS


@dataclass(frozen=True)
class Gate:
    """May this request go? `probe` marks the single half-open trial; `retry_at` (epoch s) when blocked."""

    allowed: bool
    probe: bool = False
    retry_at: float | None = None
    state: str = CLOSED


def acquire(provider: str) -> Gate:
    """Ask before calling the provider."""
    failures_key, open_key, probe_key = _keys(provider)
    try:
        client = redis_client()
        open_until = float(client.get(open_key) or 0)
        now = time.time()
        if not open_until:
            return Gate(True)
        if now < open_until:
            return Gate(False, retry_at=open_until, state=OPEN)
        if client.set(probe_key, uuid.uuid4().hex, nx=True, ex=PROBE_TTL_SECONDS):
            return Gate(True, probe=True, state=HALF_OPEN)
        return Gate(False, retry_at=now + PROBE_WAIT_SECONDS, state=HALF_OPEN)
    except redis.RedisError as exc:
        logger.warning("circuit breaker state for %s unavailable (%s); sending anyway", provider, exc)
        return Gate(True)


def record_success(provider: str) -> None:
    """The provider answered (even with a refusal of this one request): it is up."""
    failures_key, open_key, probe_key = _keys(provider)
    try:
        pipe = redis_client().pipeline()
        pipe.delete(open_key)
        pipe.delete(failures_key, probe_key)
        was_open, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not record a success for the %s breaker: %s", provider, exc)
        return
    if was_open:
        BREAKER_TRANSITIONS.labels(provider=provider, state=CLOSED).inc()
        logger.info("circuit for %s closed: the provider answered again", provider)


def record_failure(provider: str, *, probe: bool = False) -> None:
    """The provider failed (5xx, 429, timeout, connection): count it; open at the threshold or on a failed probe."""
    failures_key, open_key, probe_key = _keys(provider)
    try:
        client = redis_client()
        failures = client.incr(failures_key)
        if probe or failures >= threshold():
            now = time.time()
            previous = client.set(open_key, repr(now + cooldown_seconds()), get=True)
            client.delete(probe_key)
            if previous is None or float(previous) <= now:  # it was closed or half-open: it opens now
                BREAKER_TRANSITIONS.labels(provider=provider, state=OPEN).inc()
                logger.warning("circuit for %s open for %.0f s after %d consecutive failures", provider,
                               cooldown_seconds(), failures)
    except redis.RedisError as exc:
        logger.warning("could not record a failure for the %s breaker: %s", provider, exc)


def release_probe(provider: str) -> None:
    """The probe was not used after all (the message was deferred for another reason)."""
    try:
        redis_client().delete(_keys(provider)[2])
    except redis.RedisError:
        pass  # it expires on its own after PROBE_TTL_SECONDS


def states(providers=PROVIDERS) -> dict[str, dict]:
    """Each provider's state, failure count and reopening time, in one round trip."""
    client = redis_client()
    keys = [key for provider in providers for key in _keys(provider)[:2]]
    values = client.mget(keys)
    now = time.time()
    result = {}
    for index, provider in enumerate(providers):
        failures, open_until = values[2 * index], values[2 * index + 1]
        open_until = float(open_until or 0)
        state = CLOSED if not open_until else (OPEN if now < open_until else HALF_OPEN)
        entry = {"state": state, "consecutive_failures": int(failures or 0)}
        if state == OPEN:
            entry["retry_in_seconds"] = round(open_until - now, 1)
        result[provider] = entry
    return result


def reset(provider: str) -> None:
    """Forget the provider's breaker state (operators, tests)."""
    redis_client().delete(*_keys(provider))
