"""A circuit breaker per outbound provider, shared by every worker through Redis.

closed → open after `threshold` consecutive failures; open for `cooldown_seconds`; then half-open: one
probe request at a time (a SET NX lock), whose success closes the breaker and whose failure opens it
for another cool-down. Any success resets the failure count, so the failures must be consecutive
across all workers.

Each user names its breakers and gives their numbers (integrations.breaker: slack, twilio and waba with
INTEGRATIONS_BREAKER_*; emma.llm: the model provider with LLM_BREAKER_*). A `Breaker` is a cheap value:
build it where it is used, from the settings of the moment; its state lives in Redis under its name.

Redis being unreachable never stops a call: the breaker then lets everything through (fails open)
and says so in the log; the provider's own errors still count against the caller's retries."""

import logging
import time
import uuid
from dataclasses import dataclass

import redis
from prometheus_client import Counter

from core.clients import redis_client

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
PREFIX = "emma:breaker"
# A probe that neither succeeded nor failed in this long (its worker died) lets another one try.
PROBE_TTL_SECONDS = 30
# While a probe is in flight, the others look again after this long.
PROBE_WAIT_SECONDS = 1.0

# Named when only the integrations had breakers; dashboards and alerts use the name (docs/OPERATIONS.md).
BREAKER_TRANSITIONS = Counter("emma_integration_breaker_transitions_total",
                              "Circuit breaker state changes per provider.", ["provider", "state"])


def _keys(name: str) -> tuple[str, str, str]:
    return f"{PREFIX}:{name}:failures", f"{PREFIX}:{name}:open_until", f"{PREFIX}:{name}:probe"


@dataclass(frozen=True)
class Gate:
    """May this request go? `probe` marks the single half-open trial; `retry_at` (epoch s) when blocked."""

    allowed: bool
    probe: bool = False
    retry_at: float | None = None
    state: str = CLOSED


@dataclass(frozen=True)
class Breaker:
    """The breaker of one provider: opens after `threshold` consecutive failures for `cooldown_seconds`."""

    name: str
    threshold: int = 5
    cooldown_seconds: float = 30.0

    def acquire(self) -> Gate:
        """Ask before calling the provider."""
        _, open_key, probe_key = _keys(self.name)
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
            logger.warning("circuit breaker state for %s unavailable (%s); calling anyway", self.name, exc)
            return Gate(True)

    def record_success(self) -> None:
        """The provider answered (even with a refusal of this one request): it is up."""
        failures_key, open_key, probe_key = _keys(self.name)
        try:
            pipe = redis_client().pipeline()
            pipe.delete(open_key)
            pipe.delete(failures_key, probe_key)
            was_open, _ = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record a success for the %s breaker: %s", self.name, exc)
            return
        if was_open:
            BREAKER_TRANSITIONS.labels(provider=self.name, state=CLOSED).inc()
            logger.info("circuit for %s closed: the provider answered again", self.name)

    def record_failure(self, *, probe: bool = False) -> None:
        """The provider failed (5xx, 429, timeout, connection): count it; open at the threshold or on a
        failed probe."""
        failures_key, open_key, probe_key = _keys(self.name)
        try:
            client = redis_client()
            failures = client.incr(failures_key)
            if probe or failures >= self.threshold:
                now = time.time()
                previous = client.set(open_key, repr(now + self.cooldown_seconds), get=True)
                client.delete(probe_key)
                if previous is None or float(previous) <= now:  # it was closed or half-open: it opens now
                    BREAKER_TRANSITIONS.labels(provider=self.name, state=OPEN).inc()
                    logger.warning("circuit for %s open for %.0f s after %d consecutive failures", self.name,
                                   self.cooldown_seconds, failures)
        except redis.RedisError as exc:
            logger.warning("could not record a failure for the %s breaker: %s", self.name, exc)

    def release_probe(self) -> None:
        """The probe was not used after all (the call was deferred for another reason)."""
        try:
            redis_client().delete(_keys(self.name)[2])
        except redis.RedisError:
            pass  # it expires on its own after PROBE_TTL_SECONDS

    def reset(self) -> None:
        """Forget the breaker's state (operators, tests)."""
        reset(self.name)


def states(names) -> dict[str, dict]:
    """Each named breaker's state, failure count and reopening time, in one round trip."""
    names = list(names)
    client = redis_client()
    keys = [key for name in names for key in _keys(name)[:2]]
    values = client.mget(keys)
    now = time.time()
    result = {}
    for index, name in enumerate(names):
        failures, open_until = values[2 * index], values[2 * index + 1]
        open_until = float(open_until or 0)
        state = CLOSED if not open_until else (OPEN if now < open_until else HALF_OPEN)
        entry = {"state": state, "consecutive_failures": int(failures or 0)}
        if state == OPEN:
            entry["retry_in_seconds"] = round(open_until - now, 1)
        result[name] = entry
    return result


def reset(name: str) -> None:
    """Forget the named breaker's state (operators, tests)."""
    redis_client().delete(*_keys(name))
