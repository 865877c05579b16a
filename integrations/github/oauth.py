"""/oauth/github/authorize and /oauth/github/callback: a tenant admin connects Emma's GitHub App.

Both need the admin's session (the Django admin's login, not a JWT) acting in a tenant where the user is an
admin (core.middleware.SessionTenantMiddleware): anyone else is sent to the admin's login (not signed in) or
refused (403). Authorize sends the admin to GitHub's installation page with a single-use state; GitHub sends
them back to the callback with the state, an OAuth code and the installation id
(integrations.github.services.installation_connect). Refusals are Emma's JSON errors; nothing is recorded."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views import View

from core.errors import ApplicationError, json_error
from core.models import Membership
from core.selectors import active_membership
from integrations.github import client, services

logger = logging.getLogger(__name__)


class _AdminSessionView(View):
    http_method_names = ["get"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
        membership = active_membership(request.user)
        if membership is None or membership.role != Membership.Role.ADMIN:
            return json_error(403, "permission_denied", "Only an admin of the tenant can connect GitHub.")
        self.membership = membership
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = json_error(405, "method_not_allowed", f"{request.method} is not allowed here.")
        response["Allow"] = "GET"
        return response


def _not_configured():
    reason = client.unavailable_reason()
    return json_error(503, "not_configured", reason) if reason else None


class GitHubAuthorizeView(_AdminSessionView):
    """Start connecting: a single-use state, then GitHub's page to install the App."""

    def get(self, request):
        refused = _not_configured()
        if refused:
            return refused
        if not request.session.session_key:
            request.session.save()
        state = services.oauth_state_create(user=request.user, tenant_id=self.membership.tenant_id,
                                            session_key=request.session.session_key)
        base = settings.GITHUB_OAUTH_URL.rstrip("/")
        return HttpResponseRedirect(f"{base}/apps/{settings.GITHUB_APP_SLUG}/installations/new?"
                                    + urlencode({"state": state}))


class GitHubCallbackView(_AdminSessionView):
    """GitHub sends the admin back here: record the installation, then show it in the admin."""

    def get(self, request):
        refused = _not_configured()
        if refused:
            return refused
        params = request.GET
        if params.get("error"):
            return json_error(400, "github_refused", "GitHub did not authorise Emma: "
                              + str(params.get("error_description") or params["error"])[:300])
        try:
            installation = services.installation_connect(
                state=params.get("state", ""), user=request.user, session_key=request.session.session_key or "",
                code=params.get("code", ""), installation_id=params.get("installation_id"))
        except ApplicationError as exc:
            return json_error(exc.status, exc.code, exc.message, exc.details)
        except client.GitHubFailure as exc:
            logger.warning("GitHub connect failed: %s", exc)
            if exc.status and exc.status < 500 and exc.status != 429:
                return json_error(400, "github_refused", f"GitHub refused the connection ({exc}): start again "
                                                         "from “Connect GitHub”.")
            return json_error(502, "github_unavailable", "GitHub did not answer; start again in a moment.")
        messages.success(request, f"GitHub connected: {installation.account_login} "
                                  f"({len(installation.repositories)} repositories).")
        return HttpResponseRedirect(reverse("admin:integrations_githubinstallation_change",
                                            args=[installation.pk]))
