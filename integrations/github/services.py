"""Connecting a tenant to Emma's GitHub App, and what GitHub says later about the installation.

The connect flow (integrations.github.oauth): a tenant admin starts it (`oauth_state_create`), GitHub sends
them back with the state, an OAuth code and the installation id (`installation_connect`). The webhooks of
the App (`installation_event_apply`) disable, re-enable and update installations as soon as they arrive."""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from governance.audit import audit_record
from integrations.github import client
from integrations.models import GitHubInstallation, GitHubOAuthState

logger = logging.getLogger(__name__)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@transaction.atomic
def oauth_state_create(*, user, tenant_id: int, session_key: str) -> str:
    """A new state for one connect flow of `user` in `tenant_id` from this session: single use, valid for
    GITHUB_OAUTH_STATE_MINUTES. Only its hash is stored; the state itself goes to GitHub and back."""
    state = secrets.token_urlsafe(32)
    GitHubOAuthState.objects.create(
        tenant_id=tenant_id, user=user, state_hash=_digest(state), session_hash=_digest(session_key),
        expires_at=timezone.now() + timedelta(minutes=settings.GITHUB_OAUTH_STATE_MINUTES))
    return state


@transaction.atomic
def oauth_state_consume(*, state: str, user, session_key: str) -> GitHubOAuthState:
    """Use a state once: it must exist, be unexpired and unused, and belong to this user and session.
    One conditional UPDATE consumes it, so two callbacks with one state cannot both pass."""
    now = timezone.now()
    row = GitHubOAuthState.objects.filter(state_hash=_digest(state or "")).first()
    if row is None or row.user_id != user.pk or row.session_hash != _digest(session_key or ""):
        raise Invalid.field("state", "This GitHub sign-in was not started from this session: start again from "
                                     "“Connect GitHub”.")
    consumed = GitHubOAuthState.objects.filter(pk=row.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not consumed:
        reason = "was already used" if row.used_at else "has expired"
        raise Invalid.field("state", f"This GitHub sign-in {reason}: start again from “Connect GitHub”.")
    return row


def installation_connect(*, state: str, user, session_key: str, code: str, installation_id) -> GitHubInstallation:
    """Record the installation GitHub sent the admin back with. The state is consumed first (so a failure
    below still spends it); the code is exchanged for the user's token, with which the user must reach
    `installation_id` (so nobody claims another account's installation); then, as the App, the installation
    is read, and the user must be an admin of its organisation, or its personal account (`_may_claim`); a token minted and its repositories listed. An installation of another tenant is refused
    (Conflict), never moved. No transaction is held across GitHub's calls; the record is one (`_record`)."""
    if not code:
        raise Invalid.field("code", "GitHub sent no authorisation code: was “Request user authorization (OAuth) "
                                    "during installation” left unticked in the App's settings?")
    try:
        installation_id = github_id(int(installation_id))
    except (TypeError, ValueError):
        installation_id = None
    if installation_id is None:
        raise Invalid.field("installation_id", "GitHub sent no installation id.")
    oauth = oauth_state_consume(state=state, user=user, session_key=session_key)
    user_token = client.oauth_code_exchange(code=code)
    github_user = client.user_identity(user_token=user_token.token)
    if installation_id not in client.user_installation_ids(user_token=user_token.token):
        raise Forbidden(f"Your GitHub account ({github_user.login}) cannot reach installation {installation_id}.")
    info = client.installation_info(installation_id=installation_id)
    _may_claim(info=info, github_user=github_user, user_token=user_token.token)
    token, expires_at = client.installation_token_mint(installation_id=installation_id)
    repositories = client.installation_repositories(token=token)
    return _record(tenant_id=oauth.tenant_id, user=user, installation_id=installation_id, info=info,
                   repositories=repositories, token=token, token_expires_at=expires_at, user_token=user_token,
                   github_user=github_user)


def _may_claim(*, info, github_user, user_token: str) -> None:
    """Reaching an installation is not enough to claim it (every member of an organisation with access to one
    of its repositories reaches it): an organisation's installation is claimed by one of its admins (owners)
    only, a personal account's by that account only. Forbidden otherwise."""
    if info.account_type == GitHubInstallation.AccountType.ORGANIZATION:
        if not client.user_is_org_admin(user_token=user_token, org=info.account_login):
            raise Forbidden(f"Your GitHub account ({github_user.login}) is not an owner of the {info.account_login} "
                            "organisation: ask one of its owners to connect GitHub.")
    elif info.account_login.lower() != github_user.login.lower():
        raise Forbidden(f"Your GitHub account ({github_user.login}) is not {info.account_login}, whose installation "
                        "this is: ask them to connect GitHub.")


@transaction.atomic
def _record(*, tenant_id: int, user, installation_id: int, info, repositories: list[str], token: str,
            token_expires_at, user_token, github_user) -> GitHubInstallation:
    existing = GitHubInstallation.objects.select_for_update().filter(installation_id=installation_id).first()
    if existing is not None and existing.tenant_id != tenant_id:
        raise Conflict(f"GitHub installation {installation_id} is connected to another tenant.")
    installation = existing or GitHubInstallation(tenant_id=tenant_id, installation_id=installation_id)
    before = _snapshot(installation) if existing else None
    installation.account_login = info.account_login
    installation.account_type = info.account_type
    installation.permissions = info.permissions
    installation.repositories = repositories
    installation.access_token, installation.access_token_expires_at = token, token_expires_at
    installation.user_access_token = user_token.token
    installation.user_access_token_expires_at = user_token.expires_at
    installation.refresh_token = user_token.refresh_token
    installation.refresh_token_expires_at = user_token.refresh_token_expires_at
    installation.github_user_id, installation.github_user_login = github_user.id, github_user.login
    installation.installed_by = user
    installation.disabled_at, installation.disabled_reason = None, ""
    try:
        with transaction.atomic():
            installation.save()
    except IntegrityError:
        # Two callbacks connecting one new installation at once: the other insert won. A Conflict, as for any
        # installation connected elsewhere, never a 500.
        if existing is not None:
            raise
        winner = GitHubInstallation.objects.filter(installation_id=installation_id).values_list(
            "tenant_id", flat=True).first()
        if winner == tenant_id:
            raise Conflict(f"GitHub installation {installation_id} was connected to this tenant by someone else "
                           "at the same moment.") from None
        raise Conflict(f"GitHub installation {installation_id} is connected to another tenant.") from None
    audit_record(tenant_id=tenant_id, actor=user.get_username(),
                 action="github.installation.connected" if existing is None else "github.installation.reconnected",
                 object_type="github_installation", object_id=installation.installation_id, before=before,
                 after=_snapshot(installation))
    return installation


def _snapshot(installation: GitHubInstallation) -> dict:
    """What the audit keeps of an installation: never a token."""
    return {"account": installation.account_login, "account_type": installation.account_type,
            "repositories": list(installation.repositories or []), "permissions": dict(installation.permissions or {}),
            "disabled": installation.disabled_at is not None, "disabled_reason": installation.disabled_reason}


# --- what the App's webhooks say ------------------------------------------------------------------------

DISABLING = {"deleted": "uninstalled on GitHub", "suspend": "suspended on GitHub"}


def github_id(value) -> int | None:
    """A GitHub id as a payload carries it (a positive integer that fits a bigint), else None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 63
    return value if ok else None


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _audit(installations, *, action: str, after: dict) -> None:
    for installation in installations:
        audit_record(tenant_id=installation.tenant_id, actor="github", action=action,
                     object_type="github_installation", object_id=installation.installation_id, after=after)


@transaction.atomic
def installation_event_apply(*, event: str, payload: dict) -> str:
    """Apply an App webhook about an installation at once (the webhook view calls it when it stores the
    delivery): `installation` deleted or suspend disables it (conditional UPDATE, with the reason),
    unsuspend enables it, new_permissions_accepted records the permissions; `installation_repositories`
    added/removed updates its repositories; `github_app_authorization` revoked clears the user tokens of the
    installations that GitHub user connected, and disables them. Unknown installations change nothing.
    Returns what it did, for the log."""
    action = payload.get("action")
    now = timezone.now()
    if event == "github_app_authorization":
        sender_id = github_id(_object(payload.get("sender")).get("id"))
        if action != "revoked" or sender_id is None:
            return "nothing"
        rows = list(GitHubInstallation.objects.select_for_update().filter(github_user_id=sender_id))
        GitHubInstallation.objects.filter(pk__in=[row.pk for row in rows]).update(
            user_access_token=None, user_access_token_expires_at=None, refresh_token=None,
            refresh_token_expires_at=None, updated_at=now)
        disabled = [row for row in rows if row.disabled_at is None]
        GitHubInstallation.objects.filter(pk__in=[row.pk for row in disabled]).update(
            disabled_at=now, disabled_reason="authorisation revoked on GitHub", updated_at=now)
        _audit(disabled, action="github.installation.disabled", after={"reason": "authorisation revoked on GitHub"})
        return f"revoked: {len(rows)} installation(s)"
    installation_id = github_id(_object(payload.get("installation")).get("id"))
    if installation_id is None:
        return "nothing"
    installation = GitHubInstallation.objects.select_for_update().filter(installation_id=installation_id).first()
    if installation is None:
        return "unknown installation"
    if event == "installation" and action in DISABLING:
        changed = GitHubInstallation.objects.filter(pk=installation.pk, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=DISABLING[action], updated_at=now)
        if changed:
            _audit([installation], action="github.installation.disabled", after={"reason": DISABLING[action]})
        return "disabled" if changed else "already disabled"
    if event == "installation" and action == "unsuspend":
        changed = GitHubInstallation.objects.filter(pk=installation.pk, disabled_reason=DISABLING["suspend"]).update(
            disabled_at=None, disabled_reason="", updated_at=now)
        if changed:
            _audit([installation], action="github.installation.enabled", after={"reason": "unsuspended on GitHub"})
        return "enabled" if changed else "not suspended"
    if event == "installation" and action == "new_permissions_accepted":
        permissions = _object(payload.get("installation")).get("permissions")
        if isinstance(permissions, dict):
            installation.permissions = permissions
            installation.save(update_fields=["permissions", "updated_at"])
            _audit([installation], action="github.installation.permissions", after={"permissions": permissions})
        return "permissions"
    if event == "installation_repositories" and action in ("added", "removed"):
        def names(key):
            repositories = payload.get(key)
            return {str(repo["full_name"])[:300] for repo in (repositories if isinstance(repositories, list) else [])
                    if isinstance(repo, dict) and isinstance(repo.get("full_name"), str) and repo["full_name"]}
        repositories = (set(installation.repositories or []) | names("repositories_added")) - names(
            "repositories_removed")
        installation.repositories = sorted(repositories)
        installation.save(update_fields=["repositories", "updated_at"])
        _audit([installation], action="github.installation.repositories",
               after={"repositories": installation.repositories})
        return "repositories"
    return "nothing"
