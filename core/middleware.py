import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.urls import Resolver404, resolve

from core import observability
from core.errors import json_error
from core.models import Membership

logger = logging.getLogger(__name__)


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
    """Refuses bodies over MAX_PAYLOAD_BYTES with 413 before anything reads them. A view that takes larger
    bodies (a draft's save) says how large with a `max_payload_bytes()` class method; it is looked up only
    for a body over the general limit."""

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
            limit = max(limit, self._view_limit(request))
            too_big = int(length) > limit
            if not too_big:
                # Read here, within the view's own limit: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (the general
                # limit) would refuse the body when DRF's parser reads request.body.
                request._body = request.read()
        if too_big:
            return json_error(413, "payload_too_large", f"The request body exceeds {limit} bytes.",
                              {"max_bytes": limit})
        return self.get_response(request)

    @staticmethod
    def _view_limit(request) -> int:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return 0
        limit = getattr(getattr(match.func, "view_class", None), "max_payload_bytes", None)
        return limit() if callable(limit) else 0


class DatabaseUnavailableMiddleware:
    """A request that finds the database gone (restarting, failing over, out of connections) gets a 503
    with Retry-After instead of a 500. Django drops the broken connection when the request ends, so the
    next request connects afresh: web processes recover without a restart."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        response = json_error(503, "database_unavailable", "The database is unavailable; try again in a few seconds.")
        response["Retry-After"] = "5"
        return response


SESSION_TENANT_KEY = "emma_tenant_id"


class SessionTenantMiddleware:
    """A signed-in session (the admin) acts in one tenant: the one it chose (`SESSION_TENANT_KEY`), else the
    user's oldest membership. Requests without a session (the API's tokens name their tenant) pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            memberships = list(Membership.objects.filter(user=user).select_related("tenant")
                               .order_by("created_at", "pk"))
            chosen = request.session.get(SESSION_TENANT_KEY)
            user.membership = next((m for m in memberships if m.tenant_id == chosen),
                                   memberships[0] if memberships else None)
        return self.get_response(request)
