"""kombu's Redis transport with one client per channel for its synchronous commands, and a worker that
survives the broker going away.

kombu builds a new redis-py client for every publish, ack and event it sends (`conn_or_acquire`), and
building one copies redis-py's ~170 response callbacks: about a third of the CPU of a publish. The
client is only a handle on the channel's connection pool, which does the real work and is thread-safe,
so one per pool serves every command; a channel that drops its pool (a reconnect) gets a new one.

Used for redis:// brokers only (settings: CELERY_BROKER_TRANSPORT); AMQP and rediss:// keep kombu's own.
"""

from contextlib import contextmanager

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    _sync_client = None

    def _connparams(self, asynchronous=False):
        """A worker must survive a broker that drops while one of its processes runs a task (its message not
        yet acknowledged, CELERY_TASK_ACKS_LATE) and another waits for the next. Celery (5.7) handles the lost
        connection by collect()ing it, which detaches the transport from it, then closing it; the channel,
        whose first close stopped at the dead socket, then tries to hand its unacknowledged messages back
        through the detached transport (kombu reads `connection.client`, now None) and raises AttributeError,
        which no caller expects: "Unrecoverable error", and the worker exits instead of reconnecting
        (tests/emma/test_outages.py). Said as the connection error it is, it is ignored like the others on
        that path and the worker reconnects; the broker delivers the unacknowledged messages again after the
        visibility timeout (a task that ran finds itself claimed), and the republish sweep covers a broker
        that lost them."""
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        pool = self.pool
        if self._sync_client is None or self._sync_client.connection_pool is not pool:
            self._sync_client = self._create_client()
        yield self._sync_client


class Transport(redis.Transport):
    Channel = Channel
