"""kombu's Redis transport with one client per channel for its synchronous commands.

kombu builds a new redis-py client for every publish, ack and event it sends (`conn_or_acquire`), and
building one copies redis-py's ~170 response callbacks: about a third of the CPU of a publish. The
client is only a handle on the channel's connection pool, which does the real work and is thread-safe,
so one per pool serves every command; a channel that drops its pool (a reconnect) gets a new one.

Used for redis:// brokers only (settings: CELERY_BROKER_TRANSPORT); AMQP and rediss:// keep kombu's own.
"""

from contextlib import contextmanager

from kombu.transport import redis


class Channel(redis.Channel):
    _sync_client = None

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
