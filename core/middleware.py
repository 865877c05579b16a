from django.conf import settings

from core import observability
from core.errors import json_error


class CorrelationIdMiddleware:
    """Takes X-Correlation-ID from the caller (or makes one), keeps it for logs and tasks, returns it."""

    header = "HTTP_X_CORRELATION_ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        correlation_id = observability.clean_correlation_id(request.META.get(self.header))
        request.correlation_id = correlation_id
        token = observability.set_correlation_id(correlation_id)
        try:
            response = self.get_response(request)
        finally:
            observability.reset_correlation_id(token)
        response["X-Correlation-ID"] = correlation_id
        return response


class PayloadLimitMiddleware:
    """Refuses bodies over MAX_PAYLOAD_BYTES with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_PAYLOAD_BYTES
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                too_big = int(length) > limit
            except ValueError:
                return json_error(400, "bad_request", "Content-Length is not a number.")
        else:  # Django reads no body without a Content-Length (a chunked body arrives empty)
            too_big = False
        if too_big:
            return json_error(413, "payload_too_large", f"The request body exceeds {limit} bytes.",
                              {"max_bytes": limit})
        return self.get_response(request)
