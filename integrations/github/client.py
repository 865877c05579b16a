"""Emma's GitHub client: the only module that imports githubkit.

- The App acts as itself with a JWT signed by its private key (`AppAuthStrategy`): reading an installation
  and minting its installation access tokens.
- Tools act as an installation (`client_for`): with its installation token, minted again when it expires
  within TOKEN_MARGIN, under a row lock so two workers never both mint one, and stored encrypted.
- The OAuth code of the connect flow is exchanged with githubkit's `OAuthWebAuthStrategy`, pointed at
  GITHUB_OAUTH_URL (githubkit posts to `<host of its base URL>/login/oauth/access_token`, and maps
  api.github.com to github.com), so tests and GitHub Enterprise use their own host.

githubkit is imported on first use (`_kit`): a broken install takes GitHub's features down (503, tools not
offered: `unavailable_reason`), not Emma's start.

Responses are read as the JSON GitHub sent (`response.json()`), not as githubkit's models: a field GitHub
adds or drops cannot break a call. Every failure leaves as GitHubFailure (status 0: no answer)."""

from __future__ import annotations

import base64
import contextlib
import importlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import Forbidden, Invalid, NotFound
from integrations.models import GitHubInstallation

if TYPE_CHECKING:
    from githubkit import GitHub

TOKEN_MARGIN = timedelta(minutes=5)  # an installation token expiring sooner is minted again before use
FILE_MAX_CHARS = 20_000  # github.get_file: longer text is truncated
COMMENTS_SHOWN = 5  # github.get_issue: the last comments
SEARCH_RESULTS = 20
MARKER_LOOKBACK = timedelta(days=7)  # how far back a retry looks for what its first attempt posted
APP_SETTINGS = ("GITHUB_APP_ID", "GITHUB_APP_SLUG", "GITHUB_APP_CLIENT_ID", "GITHUB_APP_CLIENT_SECRET",
                "GITHUB_APP_PRIVATE_KEY")


class GitHubFailure(Exception):
    """GitHub refused a call (`status`) or did not answer (status 0). Retryable: 5xx, 429, no answer."""

    def __init__(self, message: str, *, status: int = 0):
        super().__init__(message)
        self.status = status
        self.retryable = status == 0 or status == 429 or status >= 500


def missing_settings() -> list[str]:
    """The App's settings that are not set (empty: GitHub is configured)."""
    return [name for name in APP_SETTINGS if not getattr(settings, name)]


def _kit():
    """githubkit (and its exceptions), imported on first use."""
    kit = importlib.import_module("githubkit")
    importlib.import_module("githubkit.exception")
    return kit


def unavailable_reason() -> str | None:
    """Why Emma cannot talk to GitHub in this deployment now (settings missing, githubkit broken), or None."""
    missing = missing_settings()
    if missing:
        return f"GitHub is not configured: set {', '.join(missing)}."
    try:
        _kit()
    except ImportError as exc:
        return f"GitHub's client library cannot be loaded ({exc})."
    return None


def _github(auth=None, *, base_url: str | None = None) -> GitHub:
    return _kit().GitHub(auth, base_url=base_url or settings.GITHUB_API_URL, http_cache=False, auto_retry=False,
                         timeout=settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def _calling(what: str):
    errors = _kit().exception
    RequestFailed, RequestError, GitHubException = errors.RequestFailed, errors.RequestError, errors.GitHubException
    try:
        yield
    except RequestFailed as exc:
        status = exc.response.status_code
        raise GitHubFailure(f"GitHub answered {status} to {what}", status=status) from None
    except RequestError:
        raise GitHubFailure(f"GitHub did not answer {what}") from None
    except GitHubException as exc:
        raise GitHubFailure(f"GitHub refused {what} ({type(exc).__name__})", status=400) from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GitHubFailure(f"GitHub's answer to {what} was not understood", status=502) from None


def _when(value) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def _app() -> GitHub:
    return _github(_kit().AppAuthStrategy(settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY))


def _as(token: str) -> GitHub:
    return _github(_kit().TokenAuthStrategy(token))


# --- the connect flow -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserToken:
    token: str
    expires_at: datetime | None
    refresh_token: str | None
    refresh_token_expires_at: datetime | None


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str


@dataclass(frozen=True)
class InstallationInfo:
    account_login: str
    account_type: str
    permissions: dict


def oauth_code_exchange(*, code: str) -> UserToken:
    """The user-to-server token (and, for expiring user tokens, its refresh token) for an OAuth `code`."""
    strategy = _kit().OAuthWebAuthStrategy(settings.GITHUB_APP_CLIENT_ID, settings.GITHUB_APP_CLIENT_SECRET, code)
    with _calling("the OAuth code exchange"):
        auth = strategy.exchange_token(_github(base_url=settings.GITHUB_OAUTH_URL))
    return UserToken(token=auth.token, expires_at=auth.expire_time, refresh_token=auth.refresh_token,
                     refresh_token_expires_at=auth.refresh_token_expire_time)


def user_token_refresh(*, refresh_token: str) -> UserToken:
    """A new user-to-server token for a refresh token (GitHub's refresh_token grant; the refresh token is
    replaced too)."""
    strategy = _kit().OAuthTokenAuthStrategy(settings.GITHUB_APP_CLIENT_ID, settings.GITHUB_APP_CLIENT_SECRET,
                                             refresh_token=refresh_token)
    with _calling("the OAuth token refresh"):
        strategy.refresh(_github(base_url=settings.GITHUB_OAUTH_URL))
    return UserToken(token=strategy.token, expires_at=strategy.expire_time, refresh_token=strategy.refresh_token,
                     refresh_token_expires_at=strategy.refresh_token_expire_time)


def user_identity(*, user_token: str) -> GitHubUser:
    github = _as(user_token)  # held: githubkit's namespaces keep only a weak reference to their client
    with _calling("GET /user"):
        data = github.rest.users.get_authenticated().json()
        return GitHubUser(id=int(data["id"]), login=str(data.get("login", "")))


def user_installation_ids(*, user_token: str) -> set[int]:
    """The installations of this App the user can reach (GET /user/installations, every page)."""
    ids: set[int] = set()
    github = _as(user_token)
    with _calling("GET /user/installations"):
        for page in range(1, 11):
            data = github.rest.apps.list_installations_for_authenticated_user(per_page=100, page=page).json()
            batch = data.get("installations") or []
            ids |= {int(item["id"]) for item in batch}
            if len(batch) < 100:
                break
    return ids


def user_is_org_admin(*, user_token: str, org: str) -> bool:
    """The user is an active admin (an owner) of organisation `org` (GET /user/memberships/orgs/{org}); not a
    member, or GitHub not telling (404, 403): False."""
    github = _as(user_token)
    try:
        with _calling(f"GET /user/memberships/orgs/{org}"):
            data = github.rest.orgs.get_membership_for_authenticated_user(org).json()
    except GitHubFailure as exc:
        if exc.status in (403, 404):
            return False
        raise
    return isinstance(data, dict) and data.get("state") == "active" and data.get("role") == "admin"


def installation_info(*, installation_id: int) -> InstallationInfo:
    """What the App reads of an installation with its JWT: the account and the permissions granted."""
    github = _app()
    with _calling(f"GET /app/installations/{installation_id}"):
        data = github.rest.apps.get_installation(installation_id).json()
        account = data.get("account") or {}
        account_type = str(account.get("type") or "")
        return InstallationInfo(account_login=str(account.get("login", ""))[:255],
                                account_type=account_type if account_type in GitHubInstallation.AccountType.values
                                else GitHubInstallation.AccountType.USER,
                                permissions=dict(data.get("permissions") or {}))


def installation_token_mint(*, installation_id: int) -> tuple[str, datetime]:
    """A new installation access token (valid for an hour) and its expiry."""
    github = _app()
    with _calling(f"POST /app/installations/{installation_id}/access_tokens"):
        data = github.rest.apps.create_installation_access_token(installation_id).json()
        return str(data["token"]), _when(data.get("expires_at")) or timezone.now() + timedelta(hours=1)


def installation_repositories(*, token: str) -> list[str]:
    """The full names of the repositories an installation reaches (GET /installation/repositories)."""
    names: list[str] = []
    github = _as(token)
    with _calling("GET /installation/repositories"):
        for page in range(1, 11):
            batch = github.rest.apps.list_repos_accessible_to_installation(per_page=100, page=page).json().get(
                "repositories") or []
            names += [str(repo["full_name"]) for repo in batch]
            if len(batch) < 100:
                break
    return sorted(names)


# --- acting as an installation ----------------------------------------------------------------------------


def installation_for_repo(*, tenant_id: int, repo: str) -> GitHubInstallation:
    """The tenant's enabled installation that reaches `repo` ("owner/name"). NotFound when none of the
    tenant's installations reaches it; Forbidden when the one that did is disabled."""
    wanted = repo.strip().lower()
    reaching = [installation for installation in GitHubInstallation.objects.filter(tenant_id=tenant_id)
                if wanted in {name.lower() for name in installation.repositories or []}]
    enabled = [installation for installation in reaching if installation.disabled_at is None]
    if enabled:
        return enabled[0]
    if reaching:
        raise Forbidden(f"The GitHub installation that reaches {repo} is disabled "
                        f"({reaching[0].disabled_reason or 'by GitHub'}).")
    raise NotFound(f"No GitHub installation of this tenant reaches {repo}.")


def installation_token(*, installation_pk: int, force: bool = False) -> str:
    """The installation's access token, minted again (and stored encrypted) when it is missing, expires
    within TOKEN_MARGIN, or `force` (GitHub refused it). The row is locked meanwhile, so two workers
    that need a new token wait for one mint. A disabled installation raises Forbidden."""
    with transaction.atomic():
        installation = GitHubInstallation.objects.select_for_update().get(pk=installation_pk)
        if installation.disabled_at is not None:
            raise Forbidden(f"The GitHub installation of {installation.account_login} is disabled "
                            f"({installation.disabled_reason or 'by GitHub'}).")
        expires = installation.access_token_expires_at
        if installation.access_token and expires and expires > timezone.now() + TOKEN_MARGIN and not force:
            return installation.access_token
        token, expires_at = installation_token_mint(installation_id=installation.installation_id)
        installation.access_token, installation.access_token_expires_at = token, expires_at
        installation.save(update_fields=["access_token", "access_token_expires_at", "updated_at"])
        return token


def user_token(*, installation_pk: int) -> str:
    """The user-to-server token of whoever connected the installation, renewed with the refresh token when
    it expires within TOKEN_MARGIN (under the row's lock, stored encrypted). Nothing in Emma acts as the
    user yet; Forbidden when the installation is disabled or its user's authorisation is gone."""
    with transaction.atomic():
        installation = GitHubInstallation.objects.select_for_update().get(pk=installation_pk)
        if installation.disabled_at is not None or not (installation.user_access_token or installation.refresh_token):
            raise Forbidden(f"No GitHub user authorisation is kept for {installation.account_login}.")
        now = timezone.now()
        expires = installation.user_access_token_expires_at
        if installation.user_access_token and (expires is None or expires > now + TOKEN_MARGIN):
            return installation.user_access_token
        refresh_expires = installation.refresh_token_expires_at
        if not installation.refresh_token or (refresh_expires and refresh_expires <= now):
            raise Forbidden(f"The GitHub user authorisation for {installation.account_login} has expired: "
                            "connect GitHub again.")
        renewed = user_token_refresh(refresh_token=installation.refresh_token)
        installation.user_access_token = renewed.token
        installation.user_access_token_expires_at = renewed.expires_at
        installation.refresh_token = renewed.refresh_token
        installation.refresh_token_expires_at = renewed.refresh_token_expires_at
        installation.save(update_fields=["user_access_token", "user_access_token_expires_at", "refresh_token",
                                         "refresh_token_expires_at", "updated_at"])
        return renewed.token


def client_for(installation: GitHubInstallation, *, force: bool = False) -> GitHub:
    """A githubkit client acting as the installation, with a fresh installation token."""
    return _as(installation_token(installation_pk=installation.pk, force=force))


def as_installation(*, tenant_id: int, repo: str, call):
    """`call(github)` for the tenant's installation that reaches `repo`; once more with a new token when
    GitHub says the token is no good (401: revoked or expired early)."""
    installation = installation_for_repo(tenant_id=tenant_id, repo=repo)
    try:
        return call(client_for(installation))
    except GitHubFailure as exc:
        if exc.status != 401:
            raise
    return call(client_for(installation, force=True))


def _split(repo: str) -> tuple[str, str]:
    owner, _, name = repo.strip().partition("/")
    return owner, name


def _labels(issue: dict) -> list[str]:
    return [label["name"] if isinstance(label, dict) else str(label) for label in issue.get("labels") or []]


def issue_read(github: GitHub, *, repo: str, number: int) -> dict:
    owner, name = _split(repo)
    with _calling(f"GET /repos/{repo}/issues/{number}"):
        issue = github.rest.issues.get(owner, name, number).json()
        count = int(issue.get("comments") or 0)
        last_page = max(1, -(-count // 100))
        comments = github.rest.issues.list_comments(owner, name, number, per_page=100, page=last_page).json()
        return {"repo": repo, "number": number, "title": issue.get("title", ""), "state": issue.get("state", ""),
                "body": issue.get("body") or "", "labels": _labels(issue),
                "author": (issue.get("user") or {}).get("login"), "url": issue.get("html_url", ""),
                "comment_count": count,
                "last_comments": [{"author": (c.get("user") or {}).get("login"), "created_at": c.get("created_at"),
                                   "body": c.get("body") or ""} for c in comments[-COMMENTS_SHOWN:]]}


def file_read(github: GitHub, *, repo: str, path: str, ref: str | None = None) -> dict:
    owner, name = _split(repo)
    with _calling(f"GET /repos/{repo}/contents/{path}"):
        data = github.rest.repos.get_content(owner, name, path, **({"ref": ref} if ref else {})).json()
        if isinstance(data, list) or data.get("type") != "file":
            raise GitHubFailure(f"{path} in {repo} is not a file", status=422)
        if data.get("encoding") == "none" or (not data.get("content") and (data.get("size") or 0) > 0):
            # GitHub sends no content for a file over 1 MB: it is not an empty file.
            raise GitHubFailure(f"{path} in {repo} is too large to read ({data.get('size', '?')} bytes; GitHub gives "
                                "the text of files up to 1 MB): search its code instead", status=422)
        raw = base64.b64decode(data.get("content") or "")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GitHubFailure(f"{path} in {repo} is not a text file", status=422) from None
        return {"repo": repo, "path": data.get("path", path), "ref": ref or "", "sha": data.get("sha", ""),
                "size": data.get("size", len(raw)), "text": text[:FILE_MAX_CHARS],
                "truncated": len(text) > FILE_MAX_CHARS}


# Qualifiers that would take a code search beyond `repo` (GitHub ORs several repo: qualifiers together).
WIDENING_QUALIFIER = re.compile(r"\b(repo|org|user|owner)\s*:", re.IGNORECASE)


def code_search(github: GitHub, *, repo: str, query: str) -> dict:
    """Search the code of `repo` only: a query carrying its own repo:, org: or user: qualifier is refused."""
    widening = WIDENING_QUALIFIER.search(query or "")
    if widening:
        message = (f"query: the query may not carry a {widening.group(1).lower()}: qualifier; it searches "
                   f"{repo} only.")
        raise Invalid(message, details={"query": [message]})  # the message: what the model is told
    with _calling("GET /search/code"):
        data = github.rest.search.code(q=f"{query} repo:{repo}", per_page=SEARCH_RESULTS,
                                       headers={"Accept": "application/vnd.github.text-match+json"}).json()
        return {"repo": repo, "query": query, "total_count": data.get("total_count", 0),
                "items": [{"path": item.get("path", ""), "url": item.get("html_url", ""),
                           "snippets": [match.get("fragment", "") for match in item.get("text_matches") or []]}
                          for item in data.get("items") or []]}


def marker(key: str) -> str:
    """The hidden line that tells a retry what its first attempt already posted."""
    return f"<!-- emma:{key} -->"


def comment_post(github: GitHub, *, repo: str, number: int, body: str, key: str) -> dict:
    """Post a comment carrying marker(key), unless a recent comment of the issue already carries it."""
    owner, name = _split(repo)
    tag = marker(key)
    with _calling(f"the comments of {repo}#{number}"):
        since = timezone.now() - MARKER_LOOKBACK
        for page in range(1, 11):
            batch = github.rest.issues.list_comments(owner, name, number, since=since, per_page=100, page=page).json()
            posted = next((c for c in batch if tag in (c.get("body") or "")), None)
            if posted:
                return {"comment_id": posted["id"], "url": posted.get("html_url", ""), "already_posted": True}
            if len(batch) < 100:
                break
        created = github.rest.issues.create_comment(owner, name, number, body=f"{body}\n\n{tag}").json()
        return {"comment_id": created["id"], "url": created.get("html_url", ""), "already_posted": False}


def issue_create(github: GitHub, *, repo: str, title: str, body: str, labels: list[str], key: str) -> dict:
    """Open an issue carrying marker(key), unless a recent issue of the repository already carries it."""
    owner, name = _split(repo)
    tag = marker(key)
    with _calling(f"the issues of {repo}"):
        recent = github.rest.issues.list_for_repo(owner, name, state="all", sort="created", direction="desc",
                                                  since=timezone.now() - MARKER_LOOKBACK, per_page=100).json()
        opened = next((issue for issue in recent if tag in (issue.get("body") or "")), None)
        if opened is None:
            data = {"title": title, "body": f"{body}\n\n{tag}"}
            if labels:
                data["labels"] = labels
            opened = github.rest.issues.create(owner, name, data=data).json()
            already = False
        else:
            already = True
        return {"number": opened["number"], "url": opened.get("html_url", ""), "already_posted": already}


def labels_add(github: GitHub, *, repo: str, number: int, labels: list[str]) -> dict:
    """Add labels (adding a label an issue has changes nothing: a retry is harmless)."""
    owner, name = _split(repo)
    with _calling(f"POST /repos/{repo}/issues/{number}/labels"):
        data = github.rest.issues.add_labels(owner, name, number, data={"labels": labels}).json()
        return {"repo": repo, "number": number, "labels": [label.get("name") for label in data]}


# --- reading a repository's delivery history (the DORA backfill: integrations.github.backfill) ----------------

PAGE_SIZE = 100
PAGES_MAX = 500  # of one list: 50,000 items, a backfill's ceiling whatever GitHub says
EPOCH = datetime.fromtimestamp(0, tz=UTC)


def client_with_token(token: str) -> GitHub:
    """A githubkit client acting with a token of GitHub's own (a personal access token), not as the App."""
    return _as(token)


def _pages(what: str, fetch):
    """A paginated list, page by page (`fetch(page)` answers one): on while GitHub's Link header names a next
    page, or, from a server that sends no Link header, while a page comes back full. The consumer may stop
    early: later pages are then never asked for."""
    with _calling(what):
        for page in range(1, PAGES_MAX + 1):
            response = fetch(page)
            batch = response.json()
            if not isinstance(batch, list):
                raise ValueError(what)
            if batch:
                yield batch
            link = response.headers.get("link")
            if not batch or ('rel="next"' not in link if link is not None else len(batch) < PAGE_SIZE):
                return


def repository_read(github: GitHub, *, repo: str) -> dict:
    """The repository as GitHub names it (`full_name` in GitHub's own spelling, `name`, `html_url`)."""
    owner, name = _split(repo)
    with _calling(f"GET /repos/{repo}"):
        data = github.rest.repos.get(owner, name).json()
        return {"full_name": str(data["full_name"]), "name": str(data["name"]), "html_url": data.get("html_url", "")}


def deployments_read(github: GitHub, *, repo: str, since: datetime) -> list[dict]:
    """The repository's deployments created at or after `since`, as GitHub sent them. GitHub lists the newest
    first; reading stops after a page that holds none as recent as `since` (not at the first older one: the
    order is GitHub's habit, not its promise)."""
    owner, name = _split(repo)
    found: list[dict] = []
    for batch in _pages(f"GET /repos/{repo}/deployments", lambda page: github.rest.repos.list_deployments(
            owner, name, per_page=PAGE_SIZE, page=page)):
        recent = [deployment for deployment in batch if (_when(deployment.get("created_at")) or since) >= since]
        found += recent
        if not recent:
            break
    return found


def deployment_statuses_read(github: GitHub, *, repo: str, deployment_id: int) -> list[dict]:
    """A deployment's statuses, the latest first (by creation time, then id: the latest decides)."""
    owner, name = _split(repo)
    statuses = [status for batch in _pages(
        f"GET /repos/{repo}/deployments/{deployment_id}/statuses",
        lambda page: github.rest.repos.list_deployment_statuses(owner, name, deployment_id, per_page=PAGE_SIZE,
                                                                page=page)) for status in batch]
    return sorted(statuses, key=lambda status: (_when(status.get("created_at")) or EPOCH,
                                                        int(status.get("id") or 0)), reverse=True)


def merged_pulls_read(github: GitHub, *, repo: str, since: datetime) -> list[dict]:
    """Pull requests merged at or after `since`: the closed ones, most recently updated first, read until one
    was last updated before `since` (a pull request merged since then was updated since then too)."""
    owner, name = _split(repo)
    merged: list[dict] = []
    for batch in _pages(f"GET /repos/{repo}/pulls", lambda page: github.rest.pulls.list(
            owner, name, state="closed", sort="updated", direction="desc", per_page=PAGE_SIZE, page=page)):
        for pull in batch:
            updated = _when(pull.get("updated_at"))
            if updated is not None and updated < since:
                return merged
            merged_at = _when(pull.get("merged_at"))
            if merged_at is not None and merged_at >= since:
                merged.append(pull)
    return merged


def commits_read(github: GitHub, *, repo: str, since: datetime) -> list[dict]:
    """The commits of the default branch since `since` (GitHub filters them: `since=`)."""
    owner, name = _split(repo)
    return [commit for batch in _pages(f"GET /repos/{repo}/commits", lambda page: github.rest.repos.list_commits(
        owner, name, since=since, per_page=PAGE_SIZE, page=page)) for commit in batch]
