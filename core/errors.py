"""One error hierarchy for every service, and one error shape for every 4xx/5xx:
{"error": {"code", "message", "details"}}.

Services raise ApplicationError subclasses (never DRF's HTTP exceptions). `api_exception_handler` maps
them to HTTP for the API; `error_text` turns any of them (or a DRF error) into the one line the admin
and the chat channels show."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A rule of the domain said no. `details` maps a field (or "") to its messages."""

    status = 400
    code = "invalid"

    def __init__(self, message: str = "", details: dict | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)

    default_message = "The request is invalid."


class Invalid(ApplicationError):
    """Input that breaks a rule; `details` names the field(s)."""

    status, code = 400, "validation_error"
    default_message = "The request is invalid; see details for each field."

    @classmethod
    def field(cls, name: str, message: str) -> "Invalid":
        return cls(details={name: [message]})


class Forbidden(ApplicationError):
    status, code = 403, "permission_denied"
    default_message = "You do not have permission to do this."


class NotFound(ApplicationError):
    status, code = 404, "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    status, code = 409, "conflict"
    default_message = "The request conflicts with the current state."


class Unavailable(ApplicationError):
    """A service Emma depends on is down; the same request may work shortly."""

    status, code = 503, "unavailable"
    default_message = "A service Emma depends on is unavailable; try again shortly."


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def json_error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [text for value in detail.values() for text in _flatten(value)]
    if isinstance(detail, list):
        return [text for value in detail for text in _flatten(value)]
    return [str(detail)]


def error_text(exc: Exception) -> str:
    """The readable text of a service error, for the admin and chat: field messages flattened."""
    if isinstance(exc, ApplicationError):
        texts = _flatten(exc.details) if exc.details else []
        return " ".join(texts) if texts else exc.message
    if isinstance(exc, exceptions.APIException):
        return " ".join(_flatten(exc.detail))
    return str(exc)


def api_exception_handler(exc, context):
    """Domain errors and DRF's own, reshaped into Emma's error body; Django's body-size error is a 413."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        from django.conf import settings

        return json_error(413, "payload_too_large", "The request body is too large.",
                          {"max_bytes": settings.MAX_PAYLOAD_BYTES})
    # Imported here: rest_framework.views loads the API's authentication and permission classes, which
    # use this module's errors.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("validation_error", "The request is invalid; see details for each field.", details)
    else:
        code, message, details = _error_parts(exc)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait) + 1
        body = error_body(code, message, details)
    response.data = body
    return response


def _error_parts(exc: exceptions.APIException) -> tuple[str, str, dict]:
    """(code, message, details) of a DRF error that is not a validation error."""
    detail = getattr(exc, "detail", "")
    if isinstance(detail, dict) and "detail" in detail:
        # simplejwt's errors carry {"detail", "code", "messages": [{..., "message"}]} (DetailDictMixin): their
        # text and code, and why each kind of token was refused, rather than the dict's repr as the message.
        reasons = [str(item["message"]) for item in detail.get("messages", [])
                   if isinstance(item, dict) and item.get("message")]
        return (str(detail.get("code") or exc.default_code), str(detail["detail"]),
                {"reasons": reasons} if reasons else {})
    code = detail.code if hasattr(detail, "code") and detail.code else getattr(exc, "default_code", "error")
    return str(code), str(detail), {}


def _error_page(request, status: int, code: str, message: str):
    """JSON for the API and machines; the admin's own page for a person in the admin."""
    if request.path.startswith("/admin/"):
        try:
            return render(request, "admin/emma/error.html", {"status": status, "message": message}, status=status)
        except Exception:  # noqa: BLE001 - an error page must not fail; JSON says the same
            pass
    return json_error(status, code, message)


def bad_request(request, exception=None):
    return _error_page(request, 400, "bad_request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return _error_page(request, 403, "permission_denied", "You do not have permission to do this.")


def not_found(request, exception=None):
    return _error_page(request, 404, "not_found", f"Nothing is found at {request.path}.")


def server_error(request):
    return json_error(500, "internal_error", "Something went wrong on our side; it has been logged.")


def locked_out(request, credentials, *args, **kwargs):
    """django-axes' answer to a sign-in while its account or address is locked out: a 429 with Retry-After,
    the same whether the account exists or not."""
    from django.conf import settings

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = _error_page(request, 429, "locked_out",
                           f"Too many failed sign-ins for this account or from this address; try again in {minutes} "
                           "minutes.")
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
