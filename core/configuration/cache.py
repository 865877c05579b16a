"""Each process keeps the configuration it read, and drops it the moment another process commits a change.

- A change is announced on the Redis channel CHANNEL once its transaction commits (`announce`); every web and
  worker process listens on a daemon thread of its own and drops what it kept of that tenant's document, so
  the change is seen everywhere within the time a message takes (milliseconds).
- A process that missed a message (Redis restarted, the listener reconnecting) still sees the change within
  CONFIG_CACHE_SECONDS: nothing is kept longer. Reconnecting drops everything kept, since messages may have
  been missed meanwhile.
- The listener starts lazily, on the first read, in the process that reads: a thread does not survive fork
  (Celery's prefork pool, gunicorn's workers), so each process checks that the listener it has is its own.
- Reads inside a transaction go to the database: they must see the transaction's own writes, and what they
  read must not outlive a rollback.
- Redis being down never fails a read: the cache then lives by its time limit, and misses read the database.
- A read racing a change cannot keep the old value: what was read is kept only if no change was announced
  while it was being read (`_generation`)."""

import json
import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection

from core.clients import redis_client

logger = logging.getLogger(__name__)

CHANNEL = "emma:config:changed"
RECONNECT_SECONDS = (0.5, 1, 2, 5)


class _ProcessState:
    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.entries: dict[tuple[int, str], tuple[float, object]] = {}
        self.generation = 0
        self.listener: threading.Thread | None = None
        self.listening = threading.Event()
        self.stop = threading.Event()


_state = _ProcessState()


def _here() -> _ProcessState:
    """This process's state: a forked child starts afresh (no entries, no listener: its thread stayed behind)."""
    global _state
    if _state.pid != os.getpid():
        _state = _ProcessState()
    return _state


def read(tenant_id: int, name: str, load: Callable[[], object]):
    """What load() returns for the tenant's document, from this process's cache when it is fresh."""
    if connection.in_atomic_block:
        return load()
    state = _here()
    _ensure_listener(state)
    key, now = (tenant_id, name), time.monotonic()
    with state.lock:
        entry = state.entries.get(key)
        generation = state.generation
    if entry is not None and entry[0] > now:
        return entry[1]
    value = load()
    with state.lock:
        if state.generation == generation:
            state.entries[key] = (now + settings.CONFIG_CACHE_SECONDS, value)
    return value


def drop(tenant_id: int | None = None, name: str | None = None) -> None:
    """Forget the tenant's document (or everything kept, without arguments) in this process."""
    state = _here()
    with state.lock:
        state.generation += 1
        if tenant_id is None:
            state.entries.clear()
        else:
            state.entries.pop((tenant_id, name), None)


def announce(tenant_id: int, name: str, version: int) -> None:
    """Tell every process that the tenant's document changed (after the commit); this one forgets it at once.
    A failed publish is logged: the others then see the change within CONFIG_CACHE_SECONDS."""
    drop(tenant_id, name)
    try:
        redis_client().publish(CHANNEL, json.dumps({"tenant": tenant_id, "document": name, "version": version,
                                                    "pid": os.getpid()}))
    except redis.RedisError as exc:
        logger.warning("configuration change of %s for tenant %s not announced (%s); other processes see it "
                       "within %ss", name, tenant_id, exc, settings.CONFIG_CACHE_SECONDS)


def listening(timeout: float = 0) -> bool:
    """Whether this process's listener is subscribed (waiting up to `timeout` seconds for it)."""
    state = _here()
    _ensure_listener(state)
    return state.listening.wait(timeout)


def _ensure_listener(state: _ProcessState) -> None:
    if state.listener is not None and state.listener.is_alive():
        return
    with state.lock:
        if state.listener is None or not state.listener.is_alive():
            state.listener = threading.Thread(target=_listen, args=(state,), daemon=True,
                                              name="emma-config-listener")
            state.listener.start()


def _on_message(state: _ProcessState, data) -> None:
    try:
        change = json.loads(data)
        tenant_id, name = int(change["tenant"]), str(change["document"])
    except (ValueError, KeyError, TypeError):
        logger.warning("unreadable configuration change message: %r", data[:200])
        return
    with state.lock:
        state.generation += 1
        state.entries.pop((tenant_id, name), None)


def _listen(state: _ProcessState) -> None:
    failures = 0
    while not state.stop.is_set():
        pubsub = None
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=10,
                                          health_check_interval=5)
            pubsub = client.pubsub()
            pubsub.subscribe(CHANNEL)
            while not state.stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # Whatever was kept before now may have missed a change: start afresh.
                    with state.lock:
                        state.generation += 1
                        state.entries.clear()
                    state.listening.set()
                    failures = 0
                elif message["type"] == "message":
                    _on_message(state, message["data"])
        except Exception as exc:  # noqa: BLE001 - the listener must outlive any failure; reads go on meanwhile
            state.listening.clear()
            with state.lock:
                state.generation += 1
                state.entries.clear()
            wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
            failures += 1
            if failures <= 3 or failures % 60 == 0:
                logger.warning("configuration listener lost Redis (%s); retrying in %ss", exc, wait)
            state.stop.wait(wait)
        finally:
            if pubsub is not None:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - closing a dead connection
                    pass
