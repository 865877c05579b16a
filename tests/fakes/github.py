"""A fake GitHub on loopback: the OAuth pages and the REST endpoints Emma's GitHub App uses, so the connect
flow, the App's JWT, installation tokens and the github.* tools are tested through githubkit and a real
socket, not mocks of our own functions.

    fake_github.install(4242, account="acme-org", repositories=["acme-org/api"], users=["octocat"])
    fake_github.next_install(installation_id=4242, user="octocat")  # whom the next /installations/new is for
    fake_github.issue("acme-org/api", 12, title="Crash", body="...", comments=["first"])
    fake_github.file("acme-org/api", "README.md", "# API")
    fake_github.comments("acme-org/api", 12)          # what was posted, in order
    fake_github.mints[4242]                            # installation tokens minted
    fake_github.expire_tokens()                        # every installation token refused with 401 from now on
    fake_github.lose_next_response("POST", "/comments")  # do it, then answer 502 (a crash after the POST)
    fake_github.personal_token("ghp_...", repositories=["acme-org/api"])  # a token of GitHub's own (a PAT)
    fake_github.deployment("acme-org/api", 7001, sha="ab12...", environment="production",
                           created_at="2026-03-02T10:00:00Z", payload={"service": "checkout"})
    fake_github.deployment_status("acme-org/api", 7001, "success", created_at="2026-03-02T10:05:00Z")
    fake_github.pull("acme-org/api", 31, merge_commit_sha="cd34...", merged_at="2026-03-01T16:00:00Z")
    fake_github.commit("acme-org/api", "ef56...", date="2026-03-01T15:00:00Z", message="Fix checkout")

It plays: `/apps/<slug>/installations/new` (302 straight to the callback, with a code, the installation id,
setup_action=install and the state: the browser flow needs no person at GitHub), `/login/oauth/access_token`
(code and refresh_token grants; JSON or form, answered in JSON when Accept says so), `/user`,
`/user/installations`, `/user/memberships/orgs/{org}`, `/app/installations/{id}` and `.../access_tokens` (the App's JWT checked: RS256 with the
public key of the key pair made at start, its issuer the App id), `/installation/repositories`, issues, their
comments and labels, `/repos/{o}/{r}/contents/{path}`, `/search/code`, and a repository's delivery history:
`/repos/{o}/{r}`, `.../deployments` (newest first), `.../deployments/{id}/statuses` (newest first),
`.../pulls?state=closed&sort=updated&direction=desc` and `.../commits?since=` (newest first), in pages of
`per_page` with GitHub's Link header (rel="next", rel="last") when there is more than one page. Tokens are checked: an unknown or
expired one is a 401, a repository outside the token's installation a 404, as GitHub answers.

Run it for `make run`:  python -m tests.fakes.github --port 8765 --callback http://127.0.0.1:8000/oauth/github/callback
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = "123456"
APP_SLUG = "emma-test-app"
CLIENT_ID = "Iv1.fakeclientid0001"
CLIENT_SECRET = "fake-client-secret-for-tests"
WEBHOOK_SECRET = "github-app-webhook-secret-for-tests"
CONTENTS_MAX_BYTES = 1024 * 1024  # GET /repos/.../contents/...: a larger file comes with encoding "none", no content


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Installation:
    id: int
    account: str
    account_type: str
    repositories: list[str]
    users: set[str]
    permissions: dict
    roles: dict[str, str] = field(default_factory=dict)  # an organisation's members: login → "admin" / "member"


@dataclass
class Issue:
    number: int
    title: str
    body: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    author: str = "octocat"
    comments: list[dict] = field(default_factory=list)


class FakeGitHub:
    def __init__(self, callback: str = "", port: int = 0):
        self.callback = callback
        self.lock = threading.Lock()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
        self.public_key = key.public_key()
        self.ids = itertools.count(1000)
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, body = fake.answer(method, self.path, headers, raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "application/x-www-form-urlencoded" if isinstance(body, bytes) else "application/json"
                for name, value in {"Content-Type": ctype, **extra}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-github").start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    # --- scripting ----------------------------------------------------------------------------------------

    def reset(self):
        with self.lock:
            self.installations: dict[int, Installation] = {}
            self.issues: dict[tuple[str, int], Issue] = {}
            self.files: dict[tuple[str, str], str] = {}
            self.codes: dict[str, tuple[str, int]] = {}  # code → (user, installation id)
            self.user_tokens: dict[str, dict] = {}
            self.refresh_tokens: dict[str, str] = {}  # refresh token → user
            self.installation_tokens: dict[str, dict] = {}
            self.mints: dict[int, int] = {}
            self.token_ttl = timedelta(hours=1)
            self.pending_install: tuple[int, str] | None = None
            self.lost: list[tuple[str, str]] = []
            self.requests: list[tuple[str, str]] = []
            self.user_ids: dict[str, int] = {}
            self.personal_tokens: dict[str, list[str]] = {}  # token → the repositories it reads
            self.deployments: dict[str, list[dict]] = {}
            self.statuses: dict[tuple[str, int], list[dict]] = {}
            self.pulls: dict[str, list[dict]] = {}
            self.commits: dict[str, list[dict]] = {}

    def install(self, installation_id: int, *, account: str, repositories: list[str], users=("octocat",),
                account_type: str = "Organization", permissions: dict | None = None,
                roles: dict[str, str] | None = None) -> FakeGitHub:
        """`users` reach the installation; of an organisation's, `roles` says who is an "admin" (an owner) or
        a "member" (default: every one of `users` an admin, as whoever installs an App on an organisation)."""
        with self.lock:
            self.installations[installation_id] = Installation(
                installation_id, account, account_type, list(repositories), set(users),
                permissions or {"issues": "write", "contents": "read", "metadata": "read"},
                dict(roles) if roles is not None else (
                    {user: "admin" for user in users} if account_type == "Organization" else {}))
        return self

    def next_install(self, *, installation_id: int, user: str = "octocat") -> FakeGitHub:
        """The installation and GitHub user the next /apps/<slug>/installations/new sends back."""
        self.pending_install = (installation_id, user)
        return self

    def code_for(self, *, user: str, installation_id: int) -> str:
        code = secrets.token_hex(10)
        with self.lock:
            self.codes[code] = (user, installation_id)
        return code

    def issue(self, repo: str, number: int, *, title: str, body: str = "", labels=(), comments=()) -> FakeGitHub:
        with self.lock:
            item = Issue(number, title, body, list(labels))
            for text in comments:
                item.comments.append(self._comment(repo, number, text, "octocat"))
            self.issues[(repo, number)] = item
        return self

    def file(self, repo: str, path: str, text: str) -> FakeGitHub:
        with self.lock:
            self.files[(repo, path)] = text
        return self

    def expire_tokens(self):
        """Every installation token minted so far is refused from now on (401), as an expired one is."""
        with self.lock:
            for token in self.installation_tokens.values():
                token["expires_at"] = _now() - timedelta(seconds=1)

    def lose_next_response(self, method: str, path_part: str):
        """The next `method` request whose path contains `path_part` is carried out, then answered 502."""
        with self.lock:
            self.lost.append((method, path_part))

    def personal_token(self, token: str, *, repositories: list[str]) -> FakeGitHub:
        """A token of GitHub's own (a personal access token) that reads `repositories`."""
        with self.lock:
            self.personal_tokens[token] = list(repositories)
        return self

    def deployment(self, repo: str, deployment_id: int, *, sha: str, created_at: str, environment: str = "production",
                   ref: str = "main", payload: dict | None = None, description: str = "") -> dict:
        """A deployment as GET /repos/{o}/{r}/deployments shows it (and a `deployment` webhook carries it)."""
        item = {"url": f"https://api.github.com/repos/{repo}/deployments/{deployment_id}", "id": deployment_id,
                "node_id": f"DE_{deployment_id}", "sha": sha, "ref": ref, "task": "deploy", "payload": payload or {},
                "original_environment": environment, "environment": environment, "description": description or None,
                "creator": {"login": "octocat", "id": 1, "type": "User"}, "created_at": created_at,
                "updated_at": created_at, "statuses_url": f"https://api.github.com/repos/{repo}/deployments/"
                                                          f"{deployment_id}/statuses",
                "repository_url": f"https://api.github.com/repos/{repo}", "transient_environment": False,
                "production_environment": environment == "production", "performed_via_github_app": None}
        with self.lock:
            self.deployments.setdefault(repo, []).append(item)
        return item

    def deployment_status(self, repo: str, deployment_id: int, state: str, *, created_at: str) -> dict:
        """A status of a deployment (as GET .../statuses lists it, and a `deployment_status` webhook carries it)."""
        with self.lock:
            status_id = next(self.ids)
            deployment = next(d for d in self.deployments[repo] if d["id"] == deployment_id)
            item = {"url": f"{deployment['url']}/statuses/{status_id}", "id": status_id, "node_id": f"DES_{status_id}",
                    "state": state, "creator": {"login": "octocat", "id": 1, "type": "User"}, "description": "",
                    "environment": deployment["environment"], "target_url": "",
                    "log_url": f"https://github.com/{repo}/actions/runs/{status_id}", "created_at": created_at,
                    "updated_at": created_at, "deployment_url": deployment["url"],
                    "repository_url": deployment["repository_url"], "environment_url": ""}
            self.statuses.setdefault((repo, deployment_id), []).append(item)
        return item

    def pull(self, repo: str, number: int, *, merge_commit_sha: str | None, merged_at: str | None,
             updated_at: str | None = None, closed_at: str | None = None, title: str = "") -> dict:
        """A closed pull request (merged when `merged_at`), as GET /repos/{o}/{r}/pulls lists it."""
        updated = updated_at or merged_at or closed_at
        item = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}", "id": 9000 + number, "number": number,
                "state": "closed", "title": title or f"Pull request {number}", "user": {"login": "octocat"},
                "html_url": f"https://github.com/{repo}/pull/{number}", "created_at": updated,
                "updated_at": updated, "closed_at": closed_at or merged_at, "merged_at": merged_at,
                "merge_commit_sha": merge_commit_sha, "draft": False,
                "head": {"ref": f"topic-{number}", "sha": "f" * 40}, "base": {"ref": "main"}}
        with self.lock:
            self.pulls.setdefault(repo, []).append(item)
        return item

    def commit(self, repo: str, sha: str, *, date: str, message: str = "A change", login: str = "octocat") -> dict:
        """A commit of the default branch, as GET /repos/{o}/{r}/commits lists it."""
        person = {"name": login.title(), "email": f"{login}@example.com", "date": date}
        item = {"sha": sha, "node_id": f"C_{sha[:8]}", "url": f"https://api.github.com/repos/{repo}/commits/{sha}",
                "html_url": f"https://github.com/{repo}/commit/{sha}",
                "commit": {"author": person, "committer": person, "message": message,
                           "tree": {"sha": "0" * 40}, "comment_count": 0},
                "author": {"login": login, "id": 1, "type": "User"}, "committer": {"login": login, "id": 1},
                "parents": []}
        with self.lock:
            self.commits.setdefault(repo, []).append(item)
        return item

    # --- what tests read ----------------------------------------------------------------------------------

    def comments(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return [comment["body"] for comment in self.issues[(repo, number)].comments]

    def labels(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return list(self.issues[(repo, number)].labels)

    def issues_of(self, repo: str) -> list[Issue]:
        with self.lock:
            return [issue for (name, _), issue in sorted(self.issues.items()) if name == repo]

    # --- the server ---------------------------------------------------------------------------------------

    def _comment(self, repo, number, body, user):
        comment_id = next(self.ids)
        return {"id": comment_id, "body": body, "user": {"login": user}, "created_at": _iso(_now()),
                "updated_at": _iso(_now()), "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-"
                                                         f"{comment_id}"}

    def _issue_json(self, repo, issue: Issue):
        return {"number": issue.number, "title": issue.title, "body": issue.body, "state": issue.state,
                "labels": [{"name": name} for name in issue.labels], "user": {"login": issue.author},
                "comments": len(issue.comments), "html_url": f"https://github.com/{repo}/issues/{issue.number}",
                "created_at": _iso(_now())}

    def answer(self, method, raw_path, headers, raw):
        url = urlsplit(raw_path)
        path, query = url.path, {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self.lock:
            self.requests.append((method, path))
            lost = next(((m, p) for m, p in self.lost if m == method and p in path), None)
            if lost:
                self.lost.remove(lost)
        try:
            status, extra, body = self.route(method, path, query, headers, raw)
        except KeyError as exc:
            status, extra, body = 404, {}, {"message": f"Not Found ({exc})"}
        if lost:
            return 502, {}, {"message": "Bad Gateway"}
        return status, extra, body

    def _bearer(self, headers) -> str:
        auth = headers.get("authorization", "")
        return auth.split(" ", 1)[1].strip() if " " in auth else ""

    def _installation_of(self, headers) -> Installation | None:
        """Whom the token acts for: an installation, or a personal token (played as an installation without
        an id, reaching its repositories)."""
        personal = self.personal_tokens.get(self._bearer(headers))
        if personal is not None:
            return Installation(0, "", "User", personal, set(), {})
        token = self.installation_tokens.get(self._bearer(headers))
        if token is None or token["expires_at"] <= _now():
            return None
        return self.installations.get(token["installation_id"])

    def _app_jwt_ok(self, headers) -> bool:
        try:
            claims = jwt.decode(self._bearer(headers), self.public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=60)
        except jwt.PyJWTError:
            return False
        return str(claims["iss"]) in (APP_ID, CLIENT_ID)

    def route(self, method, path, query, headers, raw):
        bad_credentials = 401, {}, {"message": "Bad credentials", "status": "401"}
        parts = [part for part in path.split("/") if part]
        # -- the browser's pages ---------------------------------------------------------------------------
        if method == "GET" and len(parts) == 4 and parts[0] == "apps" and parts[2:] == ["installations", "new"]:
            if parts[1] != APP_SLUG or self.pending_install is None:
                return 404, {}, {"message": "Not Found"}
            installation_id, user = self.pending_install
            code = secrets.token_hex(10)
            with self.lock:
                self.codes[code] = (user, installation_id)
            target = self.callback + "?" + urlencode({"code": code, "installation_id": installation_id,
                                                      "setup_action": "install", "state": query.get("state", "")})
            return 302, {"Location": target}, {}
        if method == "POST" and path == "/login/oauth/access_token":
            return self._token(headers, raw)
        # -- as the user -----------------------------------------------------------------------------------
        if path in ("/user", "/user/installations") or parts[:3] == ["user", "memberships", "orgs"]:
            grant = self.user_tokens.get(self._bearer(headers))
            if grant is None or grant["expires_at"] <= _now():
                return bad_credentials
            user = grant["user"]
            if path == "/user":
                return 200, {}, {"login": user, "id": self.user_ids.setdefault(user, 5000 + len(self.user_ids)),
                                 "type": "User"}
            if parts[:3] == ["user", "memberships", "orgs"]:
                org = parts[3].lower() if len(parts) == 4 else ""
                role = next((i.roles[user] for i in self.installations.values()
                             if i.account_type == "Organization" and i.account.lower() == org and user in i.roles),
                            None)
                if role is None:
                    return 404, {}, {"message": "Not Found"}
                return 200, {}, {"state": "active", "role": role, "organization": {"login": parts[3]},
                                 "user": {"login": user}}
            reachable = [i for i in self.installations.values() if user in i.users]
            return 200, {}, {"total_count": len(reachable), "installations": [
                {"id": i.id, "account": {"login": i.account, "type": i.account_type}} for i in reachable]}
        # -- as the App ------------------------------------------------------------------------------------
        if parts[:2] == ["app", "installations"] and len(parts) >= 3:
            if not self._app_jwt_ok(headers):
                return 401, {}, {"message": "A JSON web token could not be decoded", "status": "401"}
            installation = self.installations.get(int(parts[2])) if parts[2].isdigit() else None
            if installation is None:
                return 404, {}, {"message": "Not Found"}
            if len(parts) == 3 and method == "GET":
                return 200, {}, {"id": installation.id, "app_id": int(APP_ID), "app_slug": APP_SLUG,
                                 "account": {"login": installation.account, "type": installation.account_type},
                                 "permissions": installation.permissions, "repository_selection": "selected"}
            if parts[3:] == ["access_tokens"] and method == "POST":
                token = "ghs_" + secrets.token_hex(18)
                expires_at = _now() + self.token_ttl
                with self.lock:
                    self.installation_tokens[token] = {"installation_id": installation.id, "expires_at": expires_at}
                    self.mints[installation.id] = self.mints.get(installation.id, 0) + 1
                return 201, {}, {"token": token, "expires_at": _iso(expires_at),
                                 "permissions": installation.permissions}
            return 404, {}, {"message": "Not Found"}
        # -- as an installation ----------------------------------------------------------------------------
        installation = self._installation_of(headers)
        if installation is None:
            return bad_credentials
        if path == "/installation/repositories":
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
            names = installation.repositories[(page - 1) * per_page:page * per_page]
            return 200, {}, {"total_count": len(installation.repositories), "repositories": [
                {"full_name": name, "name": name.split("/")[1], "private": True} for name in names]}
        if path == "/search/code":
            words = query.get("q", "").split()
            repo = next((w.removeprefix("repo:") for w in words if w.startswith("repo:")), "")
            terms = [w for w in words if not w.startswith("repo:")]
            if repo not in installation.repositories:
                return 422, {}, {"message": "Validation Failed"}
            items = [{"path": p, "name": p.rsplit("/", 1)[-1], "html_url": f"https://github.com/{repo}/blob/main/{p}",
                      "text_matches": [{"fragment": line} for line in text.splitlines()
                                       if all(t.lower() in line.lower() for t in terms)]}
                     for (name, p), text in sorted(self.files.items())
                     if name == repo and all(t.lower() in text.lower() for t in terms)]
            return 200, {}, {"total_count": len(items), "incomplete_results": False, "items": items}
        if len(parts) >= 3 and parts[0] == "repos":
            repo = f"{parts[1]}/{parts[2]}"
            if repo not in installation.repositories:
                return 404, {}, {"message": "Not Found"}
            return self._repo(method, repo, parts[3:], query, raw)
        return 404, {}, {"message": "Not Found"}

    def _page(self, repo: str, rest: list[str], query: dict, items: list[dict]):
        """One page of `items` as GitHub serves a list: per_page (30 by default, 100 at most), page, and a Link
        header naming the next and last pages when there is more than one."""
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        extra = {}
        if last > 1:
            base = f"{self.url}/repos/{repo}/{'/'.join(rest)}?" + urlencode(
                {k: v for k, v in query.items() if k != "page"})
            links = ([f'<{base}&page={page + 1}>; rel="next"'] if page < last else []) + [
                f'<{base}&page={last}>; rel="last"']
            extra["Link"] = ", ".join(links)
        return 200, extra, items[(page - 1) * per_page:page * per_page]

    def _history(self, repo, rest, query):
        """The delivery history's lists, or None for another path."""
        newest_first = lambda key: (lambda item: (item[key], item["id"] if "id" in item else 0))  # noqa: E731
        if rest == ["deployments"]:
            return self._page(repo, rest, query, sorted(self.deployments.get(repo, []), key=newest_first("created_at"),
                                                        reverse=True))
        if len(rest) == 3 and rest[0] == "deployments" and rest[2] == "statuses":
            if not any(str(d["id"]) == rest[1] for d in self.deployments.get(repo, [])):
                return 404, {}, {"message": "Not Found"}
            return self._page(repo, rest, query, sorted(self.statuses.get((repo, int(rest[1])), []),
                                                        key=newest_first("created_at"), reverse=True))
        if rest == ["pulls"]:
            state = query.get("state", "open")
            items = [p for p in self.pulls.get(repo, []) if state in ("all", p["state"])]
            key = "updated_at" if query.get("sort") == "updated" else "created_at"
            items.sort(key=lambda p: (p[key], p["number"]), reverse=query.get("direction", "desc") == "desc")
            return self._page(repo, rest, query, items)
        if rest == ["commits"]:
            since = query.get("since", "")
            items = [c for c in self.commits.get(repo, []) if not since or _at(c["commit"]["committer"]["date"]) >=
                     _at(since)]
            items.sort(key=lambda c: c["commit"]["committer"]["date"], reverse=True)
            return self._page(repo, rest, query, items)
        return None

    def _repo(self, method, repo, rest, query, raw):
        body = json.loads(raw or b"{}") if raw else {}
        if not rest and method == "GET":
            owner, name = repo.split("/")
            return 200, {}, {"id": abs(hash(repo)) % 10**8, "name": name, "full_name": repo, "private": True,
                             "owner": {"login": owner}, "html_url": f"https://github.com/{repo}",
                             "default_branch": "main"}
        if method == "GET":
            history = self._history(repo, rest, query)
            if history is not None:
                return history
        if rest and rest[0] == "contents":
            file_path = "/".join(rest[1:])
            text = self.files.get((repo, file_path))
            if text is None:
                return 404, {}, {"message": "Not Found"}
            data = text.encode()
            large = len(data) > CONTENTS_MAX_BYTES  # GitHub gives no content for a file over 1 MB
            return 200, {}, {"type": "file", "path": file_path, "name": file_path.rsplit("/", 1)[-1], "size": len(data),
                             "sha": f"{abs(hash(text)):040x}"[:40], "encoding": "none" if large else "base64",
                             "content": "" if large else base64.encodebytes(data).decode()}
        if rest == ["issues"] and method == "POST":
            with self.lock:
                number = max([n for (name, n) in self.issues if name == repo] or [0]) + 1
                issue = Issue(number, body.get("title", ""), body.get("body") or "", list(body.get("labels") or []),
                              author=f"{APP_SLUG}[bot]")
                self.issues[(repo, number)] = issue
            return 201, {}, self._issue_json(repo, issue)
        if rest == ["issues"] and method == "GET":
            items = sorted((i for (name, _), i in self.issues.items() if name == repo), key=lambda i: -i.number)
            return 200, {}, [self._issue_json(repo, i) for i in items[:int(query.get("per_page", 30))]]
        if len(rest) >= 2 and rest[0] == "issues" and rest[1].isdigit():
            issue = self.issues.get((repo, int(rest[1])))
            if issue is None:
                return 404, {}, {"message": "Not Found"}
            if len(rest) == 2 and method == "GET":
                return 200, {}, self._issue_json(repo, issue)
            if rest[2:] == ["comments"] and method == "GET":
                page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
                return 200, {}, issue.comments[(page - 1) * per_page:page * per_page]
            if rest[2:] == ["comments"] and method == "POST":
                with self.lock:
                    comment = self._comment(repo, issue.number, body.get("body", ""), f"{APP_SLUG}[bot]")
                    issue.comments.append(comment)
                return 201, {}, comment
            if rest[2:] == ["labels"] and method == "POST":
                labels = body.get("labels", body) if isinstance(body, dict) else body
                with self.lock:
                    for name in labels:
                        if name not in issue.labels:
                            issue.labels.append(name)
                return 200, {}, [{"name": name} for name in issue.labels]
        return 404, {}, {"message": "Not Found"}

    def _token(self, headers, raw):
        if "json" in headers.get("content-type", ""):
            form = json.loads(raw or b"{}")
        else:
            form = {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            answer = {"error": "incorrect_client_credentials",
                      "error_description": "The client_id and/or client_secret passed are incorrect."}
        elif form.get("grant_type") == "refresh_token":
            with self.lock:
                user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            answer = self._grant(user) if user else {"error": "bad_refresh_token",
                                                     "error_description": "The refresh token passed is incorrect."}
        else:
            with self.lock:
                found = self.codes.pop(form.get("code", ""), None)
            answer = self._grant(found[0]) if found else {
                "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
        if "json" in headers.get("accept", ""):
            return 200, {}, answer
        return 200, {}, urlencode(answer).encode()

    def _grant(self, user: str) -> dict:
        token, refresh = "ghu_" + secrets.token_hex(18), "ghr_" + secrets.token_hex(30)
        with self.lock:
            self.user_tokens[token] = {"user": user, "expires_at": _now() + timedelta(hours=8)}
            self.refresh_tokens[refresh] = user
        return {"access_token": token, "expires_in": 28800, "refresh_token": refresh,
                "refresh_token_expires_in": 15811200, "token_type": "bearer", "scope": ""}


_fake: FakeGitHub | None = None


def fake_github_server() -> FakeGitHub:
    """The session's fake (started on first use)."""
    global _fake
    if _fake is None:
        _fake = FakeGitHub()
    return _fake


def settings_for(fake: FakeGitHub) -> dict:
    return {"GITHUB_API_URL": fake.url, "GITHUB_OAUTH_URL": fake.url, "GITHUB_APP_ID": APP_ID,
            "GITHUB_APP_SLUG": APP_SLUG, "GITHUB_APP_CLIENT_ID": CLIENT_ID, "GITHUB_APP_CLIENT_SECRET": CLIENT_SECRET,
            "GITHUB_APP_PRIVATE_KEY": fake.private_key_pem, "GITHUB_APP_WEBHOOK_SECRET": WEBHOOK_SECRET}


def main():
    parser = argparse.ArgumentParser(description="A fake GitHub for trying Emma's GitHub App locally.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--callback", default="http://127.0.0.1:8000/oauth/github/callback")
    parser.add_argument("--installation-id", type=int, default=4242)
    parser.add_argument("--account", default="octo-org")
    args = parser.parse_args()
    fake = FakeGitHub(callback=args.callback, port=args.port)
    repos = [f"{args.account}/api", f"{args.account}/web"]
    fake.install(args.installation_id, account=args.account, repositories=repos, users=["octocat"])
    fake.next_install(installation_id=args.installation_id, user="octocat")
    fake.issue(repos[0], 1, title="The deploy fails on Fridays", body="Steps to reproduce: deploy on a Friday.",
               labels=["bug"], comments=["Seen again this week."])
    fake.file(repos[0], "README.md", "# api\n\nThe API of octo-org.\n")
    key_file = os.path.join(tempfile.mkdtemp(prefix="fake-github-"), "app-private-key.pem")
    with open(key_file, "w") as handle:
        handle.write(fake.private_key_pem)
    exports = {**settings_for(fake), "GITHUB_APP_PRIVATE_KEY_FILE": key_file}
    exports.pop("GITHUB_APP_PRIVATE_KEY")
    print("# A fake GitHub is listening. Export these for Emma (then visit /oauth/github/authorize as a tenant admin):")
    for name, value in exports.items():
        print(f"export {name}={value}")
    print(f"# App webhooks: sign with GITHUB_APP_WEBHOOK_SECRET and POST to /webhooks/github/app "
          f"(installation {args.installation_id}, repositories {', '.join(repos)})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
