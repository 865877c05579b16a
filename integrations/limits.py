"""Per-provider send rate and per-channel daily caps, counted in Redis so all workers share them.

Rate: `INTEGRATIONS_<PROVIDER>_RATE_PER_SEC` (SLACK, TWILIO, WABA; default
INTEGRATIONS_DEFAULT_RATE_PER_SEC, 5) sends a second, a fixed one-second window.
Daily cap: `MAX_DAILY_<CHANNEL>_MESSAGES` (SLACK, SMS, WHATSAPP; unset: unlimited) sends a UTC day.
A message over either limit is not failed: it waits (the next second, or 00:00 UTC tomorrow)
without using up an attempt. Redis being unreachable lets the send through, logged."""

import logging
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import redis
from django.conf import settings

from core.clients import redis_client

logger = logging.getLogger(__name__)

PREFIX = "emma:integrations"


def rate_per_second(provider: str) -> float:
    rate = settings.INTEGRATIONS_RATE_PER_SEC.get(provider)
    return settings.INTEGRATIONS_DEFAULT_RATE_PER_SEC if rate is None else rate


def daily_cap(channel: str) -> int | None:
    return settings.MAX_DAILY_MESSAGES.get(channel)


def rate_acquire(provider: str) -> bool:
    """Take one send from this second's allowance; False when it is used up."""
    rate = rate_per_second(provider)
    if rate <= 0:
        return True
    key = f"{PREFIX}:rate:{provider}:{int(time.time())}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(key)
        pipe.expire(key, 2)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("rate limit for %s unavailable (%s); sending anyway", provider, exc)
        return True
    return count <= rate


def _day_key(channel: str, now: datetime) -> str:
    return f"{PREFIX}:daily:{channel}:{now:%Y-%m-%d}"


def next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def daily_reserve(channel: str, *, sent_today) -> bool:
    """Reserve one of today's sends. `sent_today()` counts them in the database: it seeds the counter
    the first time a day is seen, so a Redis restart does not hand out a fresh allowance."""
    cap = daily_cap(channel)
    if cap is None:
        return True
    key = _day_key(channel, datetime.now(dt_timezone.utc))
    try:
        client = redis_client()
        if not client.exists(key):
            client.set(key, sent_today(), nx=True, ex=2 * 86400)
        if client.incr(key) <= cap:
            return True
        client.decr(key)
        return False
    except redis.RedisError as exc:
        logger.warning("daily cap for %s unavailable (%s); sending anyway", channel, exc)
        return True


def daily_release(channel: str) -> None:
    """Give back a reservation whose send did not happen."""
    if daily_cap(channel) is None:
        return
    try:
        redis_client().decr(_day_key(channel, datetime.now(dt_timezone.utc)))
    except redis.RedisError:
        pass


def reset() -> None:
    """Forget every counter (tests)."""
    client = redis_client()
    keys = [*client.scan_iter(f"{PREFIX}:rate:*"), *client.scan_iter(f"{PREFIX}:daily:*")]
    if keys:
        client.delete(*keys)
