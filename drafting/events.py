"""A draft's live stream for its open editors, as Server-Sent Events: `revision` (a save, with the content
when it is under 64 KiB), `comment` (created, resolved, reopened), `status` (a transition), `draft` (its
details or collaborators changed), and `presence` (who has the draft open).

Events are DraftEvent rows polled from PostgreSQL every POLL_SECONDS; their ids are the rows' ids, which
commit in order per draft (each is written while the draft's row is locked), so a client that reconnects
with Last-Event-ID gets exactly what came after it. Presence is not stored: each open stream keeps its
viewer in a Redis sorted set (score: until when they count as present) and refreshes it while it runs;
a `presence` event (no id) is sent whenever the set of viewers changes. The stream ends after
DRAFT_STREAM_MAX_SECONDS so it never holds a worker for long; the client reconnects."""

import json
import time

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from core.clients import redis_client
from core.errors import Invalid
from drafting.models import DraftEvent
from drafting.selectors import events_after

POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
PRESENCE_SECONDS = 10.0  # a viewer counts as present this long after their stream last refreshed it
RETRY_MS = 1000


def _presence_key(draft_id) -> str:
    return f"emma:drafting:presence:{draft_id}"


def presence_touch(draft_id, username: str) -> None:
    client = redis_client()
    key = _presence_key(draft_id)
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(key, {username: now + PRESENCE_SECONDS})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, int(PRESENCE_SECONDS * 3))
    pipe.execute()


def presence_leave(draft_id, username: str) -> None:
    redis_client().zrem(_presence_key(draft_id), username)


def viewers(draft_id) -> list[str]:
    names = redis_client().zrangebyscore(_presence_key(draft_id), time.time(), "+inf")
    return sorted(name.decode() if isinstance(name, bytes) else name for name in names)


def cursor_parse(*, draft_id, last_event_id: str | None) -> int:
    """The event id after which the stream resumes (0: from the start); one that is not this draft's is a
    400, so a client never silently starts over or skips."""
    if not last_event_id:
        return 0
    value = last_event_id.strip()
    if not value.isdigit() or len(value) > 18:
        raise Invalid.field("Last-Event-ID", "Not an event id of this stream.")
    if not DraftEvent.objects.filter(draft_id=draft_id, pk=int(value)).exists():
        raise Invalid.field("Last-Event-ID", "No event of this draft has this id.")
    return int(value)


def _encode(name: str, data: dict, event_id: int | None = None) -> bytes:
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    prefix = f"id: {event_id}\n" if event_id is not None else ""
    return f"{prefix}event: {name}\ndata: {body}\n\n".encode()


def _release_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


def stream(draft_id, username: str, after: int, *, max_seconds: float | None = None):
    """The SSE body: the draft's events after `after` as they are recorded, presence as it changes, a
    keep-alive comment when quiet, until max_seconds (DRAFT_STREAM_MAX_SECONDS) or the client leaves."""
    max_seconds = settings.DRAFT_STREAM_MAX_SECONDS if max_seconds is None else max_seconds
    started = last_sent = time.monotonic()
    present: list[str] | None = None
    yield f"retry: {RETRY_MS}\n\n".encode()
    try:
        while True:
            presence_touch(draft_id, username)
            now_present = viewers(draft_id)
            if now_present != present:
                present = now_present
                yield _encode("presence", {"viewers": present})
                last_sent = time.monotonic()
            events = events_after(draft_id, after)
            _release_connection()
            for event in events:
                yield _encode(event.kind, {**event.data, "at": event.created_at}, event.id)
                after = event.id
            if events:
                last_sent = time.monotonic()
            now = time.monotonic()
            if now - started >= max_seconds:
                return
            if now - last_sent >= KEEP_ALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = now
            time.sleep(min(POLL_SECONDS, max(0.0, max_seconds - (now - started))))
    finally:
        presence_leave(draft_id, username)
        _release_connection()
