import logging
import time

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from core.clients import redis_client

logger = logging.getLogger(__name__)
KEY_PREFIX = "emma:rate:"


class PerMinuteThrottle(BaseThrottle):
    """RATE_LIMIT_PER_MIN requests a minute per user (per client IP before login; per API key, at the key's
    own rate_limit_per_min when it has one). A counter per calendar minute in Redis (INCR is atomic, so
    every web process shares one exact count); if Redis is down, requests pass rather than fail."""

    def allow_request(self, request, view):
        now = time.time()
        window = int(now // 60)
        limit = settings.RATE_LIMIT_PER_MIN
        api_key = getattr(request.user, "api_key", None)
        if api_key is not None:
            ident = f"key:{api_key.pk}"
            limit = api_key.rate_limit_per_min or limit
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        key = f"{KEY_PREFIX}{ident}:{window}"
        try:
            count, _ = redis_client().pipeline().incr(key).expire(key, 120).execute()
        except (RedisError, OSError):
            logger.warning("rate limiting skipped: Redis is unavailable")
            return True
        self._wait = 60 - (now % 60)
        return count <= limit

    def wait(self):
        return self._wait
