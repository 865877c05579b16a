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

    rate_setting = "RATE_LIMIT_PER_MIN"
    scope = ""

    def allow_request(self, request, view):
        now = time.time()
        window = int(now // 60)
        ident, limit = self.caller(request)
        key = f"{KEY_PREFIX}{self.scope}{ident}:{window}"
        try:
            count, _ = redis_client().pipeline().incr(key).expire(key, 120).execute()
        except (RedisError, OSError):
            logger.warning("rate limiting skipped: Redis is unavailable")
            return True
        self._wait = 60 - (now % 60)
        return count <= limit

    def wait(self):
        return self._wait

    def caller(self, request) -> tuple[str, int]:
        """Whose counter a request counts on, and that counter's limit a minute."""
        limit = getattr(settings, self.rate_setting)
        api_key = getattr(request.user, "api_key", None)
        if api_key is not None:
            return f"key:{api_key.pk}", api_key.rate_limit_per_min or limit
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}", limit
        return f"ip:{self.get_ident(request)}", limit


class AccountThrottle(PerMinuteThrottle):
    """ACCOUNT_RATE_LIMIT_PER_MIN requests a minute per client address to the public account endpoints
    (sign-up, verification, password reset, accepting an invitation): each may send an email or test a
    secret. On top of PerMinuteThrottle, with a counter of its own."""

    rate_setting = "ACCOUNT_RATE_LIMIT_PER_MIN"
    scope = "account:"

    def caller(self, request) -> tuple[str, int]:
        # per address, even for a caller that sent a token
        return f"ip:{self.get_ident(request)}", getattr(settings, self.rate_setting)
