"""Per-provider send rate and per-channel daily caps, counted in Redis so all workers share them.

Rate: `INTEGRATIONS_<PROVIDER>_RATE_PER_SEC` (SLACK, TWILIO, WABA; default
INTEGRATIONS_DEFAULT_RATE_PER_SEC, 5) sends a second, a fixed one-second window.
Daily cap: `MAX_DAILY_<CHANNEL>_MESSAGES` (SLACK, SMS, WHATSAPP; unset: unlimited) sends a UTC day, across
the deployment; and a tenant's own cap (`daily_caps` of its integrations configuration, no higher than the
deployment's), its sends a UTC day.
A message over either limit is not failed: it waits (the next second, or 00:00 UTC tomorrow)
without using up an attempt. Redis being unreachable lets the send through, logged."""

import logging
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import redis
from django.conf import settings

from core.clients import redis_client
from integrations import configuration

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


def _tenant_day_key(channel: str, tenant_id: int, now: datetime) -> str:
    return f"{PREFIX}:daily:{channel}:tenant-{tenant_id}:{now:%Y-%m-%d}"


def _take(key: str, cap: int, counted) -> bool:
    client = redis_client()
    if not client.exists(key):
        client.set(key, counted(), nx=True, ex=2 * 86400)
    if client.incr(key) <= cap:
        return True
    client.decr(key)
    return False


def daily_reserve(channel: str, *, sent_today, tenant_id: int | None = None, tenant_sent_today=None) -> str | None:
    """Reserve one of today's sends: None when reserved, else which cap is reached. `sent_today()` (and
    `tenant_sent_today()`) count them in the database: they seed a counter the first time a day is seen, so a
    Redis restart does not hand out a fresh allowance."""
    cap, tenant_cap = daily_cap(channel), configuration.tenant_daily_cap(tenant_id, channel)
    now = datetime.now(dt_timezone.utc)
    try:
        if cap is not None and not _take(_day_key(channel, now), cap, sent_today):
            return f"today's cap of {cap} {channel} messages (MAX_DAILY_{channel.upper()}_MESSAGES) is reached"
        if tenant_cap is not None and not _take(_tenant_day_key(channel, tenant_id, now), tenant_cap,
                                                tenant_sent_today):
            if cap is not None:
                redis_client().decr(_day_key(channel, now))
            return (f"today's cap of {tenant_cap} {channel} messages of this tenant (daily_caps.{channel} of its "
                    "integrations configuration) is reached")
    except redis.RedisError as exc:
        logger.warning("daily cap for %s unavailable (%s); sending anyway", channel, exc)
    return None


def daily_release(channel: str, tenant_id: int | None = None) -> None:
    """Give back a reservation whose send did not happen."""
    now = datetime.now(dt_timezone.utc)
    keys = [_day_key(channel, now)] if daily_cap(channel) is not None else []
    if tenant_id is not None:
        keys.append(_tenant_day_key(channel, tenant_id, now))
    try:
        client = redis_client()
        for key in keys:
            if client.exists(key):
                client.decr(key)
    except redis.RedisError:
        pass


def reset() -> None:
    """Forget every counter (tests)."""
    client = redis_client()
    keys = [*client.scan_iter(f"{PREFIX}:rate:*", count=1000), *client.scan_iter(f"{PREFIX}:daily:*", count=1000)]
    if keys:
        client.delete(*keys)
