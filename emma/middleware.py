import io

from django.conf import settings

from emma import observability
from emma.errors import json_error


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
        elif request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            # No length up front: read at most one byte past the limit, then hand on what was read.
            body = request.read(limit + 1)
            too_big = len(body) > limit
            request._body = body
            request._stream = io.BytesIO(body)
            request.META["CONTENT_LENGTH"] = str(len(body))
        else:
            too_big = False
        if too_big:
            return json_error(413, "payload_too_large", f"The request body exceeds {limit} bytes.",
                              {"max_bytes": limit})
        return self.get_response(request)
