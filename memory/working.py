"""Working memory: the current conversation of one session, an ordered list in Redis.

Each (tenant, session) is one list under `emma:wm:{tenant_id}:{session_id}`; the tenant is part of the
key, so one tenant can never name another's session. Every append trims the list to the newest
WORKING_MEMORY_MAX_ENTRIES and resets its time to live to WORKING_MEMORY_TTL_SECONDS, in one
MULTI, so no reader ever sees a list longer than the maximum or one that never expires."""

from __future__ import annotations

import json
import re

import redis
from django.conf import settings
from django.utils import timezone

from core.clients import redis_client
from core.errors import Invalid, Unavailable
from memory.metrics import QUERY_DURATION, STORE_DURATION, timed

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

class WorkingMemoryUnavailable(Unavailable):
    code = "working_memory_unavailable"
    default_message = "Working memory (Redis) is unavailable; try again shortly."


def ttl_seconds() -> int:
    return settings.WORKING_MEMORY_TTL_SECONDS


def max_entries() -> int:
    return settings.WORKING_MEMORY_MAX_ENTRIES


def _key(tenant_id, session_id: str) -> str:
    if not SESSION_ID.match(session_id or ""):
        raise Invalid(details={"session_id": ["1 to 128 characters: letters, digits, and _ . : - "
                                              "(starting with a letter or digit)."]})
    return f"emma:wm:{int(tenant_id)}:{session_id}"


def _state(session_id: str, raw_entries: list[str], ttl: int) -> dict:
    return {"session_id": session_id, "entries": [json.loads(raw) for raw in raw_entries],
            "ttl_seconds": max(ttl, 0), "max_entries": max_entries()}


def working_append(*, tenant_id, session_id: str, role: str, content: str, metadata: dict | None = None) -> dict:
    """Append one entry, drop the oldest past the maximum, restart the TTL; the session as it now is."""
    key = _key(tenant_id, session_id)
    entry = {"role": role, "content": content, "metadata": metadata or {}, "at": timezone.now().isoformat()}
    ttl, limit = ttl_seconds(), max_entries()
    try:
        with timed(STORE_DURATION, "working_append"):
            pipe = redis_client().pipeline(transaction=True)
            pipe.rpush(key, json.dumps(entry, separators=(",", ":")))
            pipe.ltrim(key, -limit, -1)
            pipe.expire(key, ttl)
            pipe.lrange(key, 0, -1)
            _, _, _, raw = pipe.execute()
    except redis.RedisError as exc:
        raise WorkingMemoryUnavailable() from exc
    return _state(session_id, raw, ttl)


def working_get(*, tenant_id, session_id: str) -> dict:
    """The session's entries, oldest first; an unknown or expired session is simply empty."""
    key = _key(tenant_id, session_id)
    try:
        with timed(QUERY_DURATION, "working_get"):
            pipe = redis_client().pipeline(transaction=True)
            pipe.lrange(key, 0, -1)
            pipe.ttl(key)
            raw, ttl = pipe.execute()
    except redis.RedisError as exc:
        raise WorkingMemoryUnavailable() from exc
    return _state(session_id, raw, ttl)


def working_clear(*, tenant_id, session_id: str) -> bool:
    """Forget the session; True if there was anything to forget."""
    key = _key(tenant_id, session_id)
    try:
        with timed(STORE_DURATION, "working_clear"):
            return bool(redis_client().delete(key))
    except redis.RedisError as exc:
        raise WorkingMemoryUnavailable() from exc
