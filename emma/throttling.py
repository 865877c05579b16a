import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class PerMinuteThrottle(SimpleRateThrottle):
    """RATE_LIMIT_PER_MIN requests a minute per user (per client IP before login), counted in Redis
    so every web process shares one count. If Redis is down, requests pass rather than fail."""

    scope = "user"

    def get_rate(self):
        return f"{settings.RATE_LIMIT_PER_MIN}/min"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError):
            logger.warning("rate limiting skipped: Redis is unavailable")
            return True
