"""Process-wide clients for shared services, created on first use."""

import functools

import redis
from django.conf import settings


@functools.cache
def redis_client() -> redis.Redis:
    """The Redis/Valkey at REDIS_URL, with short timeouts: a dead Redis slows a request, never hangs it."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2,
                                health_check_interval=30)
