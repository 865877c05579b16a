"""One error shape for every 4xx/5xx: {"error": {"code", "message", "details"}}."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def json_error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def api_exception_handler(exc, context):
    """DRF's handler, reshaped into Emma's error body; Django's body-size error becomes a 413."""
    if isinstance(exc, RequestDataTooBig):
        from django.conf import settings

        return json_error(413, "payload_too_large", "The request body is too large.",
                          {"max_bytes": settings.MAX_PAYLOAD_BYTES})
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("validation_error", "The request is invalid; see details for each field.", details)
    else:
        detail = getattr(exc, "detail", "")
        code = detail.code if hasattr(detail, "code") and detail.code else getattr(exc, "default_code", "error")
        details = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait) + 1
        body = error_body(str(code), str(detail), details)
    response.data = body
    return response


def bad_request(request, exception=None):
    return json_error(400, "bad_request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return json_error(403, "permission_denied", "You do not have permission to do this.")


def not_found(request, exception=None):
    return json_error(404, "not_found", f"Nothing is found at {request.path}.")


def server_error(request):
    return json_error(500, "internal_error", "Something went wrong on our side; it has been logged.")
