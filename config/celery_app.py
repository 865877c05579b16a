"""The Celery application. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("emma")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect(weak=False)
def _check_database_connections(**_):
    # Connections live across tasks (CELERY_DB_REUSE_MAX): drop a broken or too old one before the
    # task uses it, by Django's own rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS), as at each request.
    close_old_connections()


def _detached_redis_channel_raises_a_connection_error():
    """A worker must survive a broker that drops while one of its processes runs a task (its message not yet
    acknowledged, CELERY_TASK_ACKS_LATE) and another waits for the next. Celery (5.7) handles the lost
    connection by collect()ing it, which detaches the transport from it, then closing it; kombu's Redis channel,
    whose first close stopped at the dead socket, then tries to hand its unacknowledged messages back through
    the detached transport (`_connparams` reads `connection.client`, now None) and raises AttributeError,
    which no caller expects: "Unrecoverable error", and the worker exits instead of reconnecting
    (tests/emma/test_outages.py). Said as the connection error it is, it is ignored like the others on that
    path and the worker reconnects. The messages stay unacknowledged in the broker, which delivers them again
    after the visibility timeout (a task that ran finds itself claimed); the republish sweep covers a broker
    that lost them."""
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    connparams = kombu_redis.Channel._connparams

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return connparams(self, asynchronous=asynchronous)

    kombu_redis.Channel._connparams = _connparams


_detached_redis_channel_raises_a_connection_error()
