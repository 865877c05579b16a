"""A tenant's own cap on memory searches a UTC day (`daily_caps.memory_searches` of its `integrations`
configuration document, read by name through core.configuration: memory does not import the integrations
app). Counted in Redis; Redis being down lets searches through, logged."""

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import redis

from core.clients import redis_client
from core.configuration.registry import is_registered
from core.configuration.selectors import config_current

logger = logging.getLogger(__name__)

DOCUMENT = "integrations"


def search_cap(tenant_id: int) -> int | None:
    if not is_registered(DOCUMENT):
        return None
    return (config_current(tenant_id=tenant_id, document=DOCUMENT)[0].get("daily_caps") or {}).get("memory_searches")


def search_take(tenant_id: int) -> tuple[int, float] | None:
    """Count one search: None when it may run, else (the cap, seconds until 00:00 UTC)."""
    cap = search_cap(tenant_id)
    if cap is None:
        return None
    now = datetime.now(dt_timezone.utc)
    key = f"emma:memory:searches:{tenant_id}:{now:%Y-%m-%d}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(key)
        pipe.expire(key, 2 * 86400)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("memory search cap unavailable (%s); searching anyway", exc)
        return None
    if count <= cap:
        return None
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return cap, (midnight - now).total_seconds()
