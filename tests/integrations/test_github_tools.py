"""The github.* tools against the fake GitHub (tests/fakes/github.py): each acts as the tenant's installation
that reaches the repository, with a fresh installation token; side effects happen once across retries."""

import pytest
from django.utils import timezone

import uuid

from core.errors import Forbidden, Invalid, NotFound
from core.models import Tenant
from emma import registry
from emma.agent import ToolContext
from emma.models import AgentTask
from emma.services import task_execute
from integrations.github import client as github_client
from integrations.models import GitHubInstallation, GitHubRequest
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db

REPO = "acme-org/api"


@pytest.fixture
def installation(fake_github, acme):
    """acme's installation of the App on acme-org, as the connect flow records it (tests/.../test_github_app.py);
    no token yet: the first call mints one with the App's JWT."""
    fake_github.install(4242, account="acme-org", repositories=[REPO, "acme-org/web"])
    fake_github.issue(REPO, 12, title="Crash on login", body="It crashes.", labels=["bug"],
                      comments=[f"comment {n}" for n in range(1, 8)])
    return GitHubInstallation.objects.create(tenant_id=acme.tenant_id, installation_id=4242, account_login="acme-org",
                                             account_type="Organization", repositories=[REPO, "acme-org/web"])


def call(tool: str, arguments: dict, *, tenant_id: int, key: str = "run-1:step-3", task_id=None):
    """A tool call as an agent run makes it (emma.agent.ToolContext: task_id is the run's)."""
    spec = registry.get_tool(tool)
    assert spec is not None and not spec.validate(arguments), spec and spec.validate(arguments)
    ctx = ToolContext(task_id=task_id, tenant_id=tenant_id, correlation_id="", idempotency_key=key,
                      check_cancelled=lambda: None)
    return spec.handler(ctx, arguments)


def test_the_tools_are_governed_read_low_write_medium_with_side_effects(fake_github):
    for name in ("github.get_issue", "github.get_file", "github.search_code"):
        spec = registry.get_tool(name)
        assert (spec.risk, spec.external_side_effects, spec.as_task) == ("low", False, False)
    for name in ("github.comment", "github.create_issue", "github.add_label"):
        spec = registry.get_tool(name)
        assert (spec.risk, spec.external_side_effects, spec.as_task) == ("medium", True, True)
        assert spec.unavailable_reason() is None


def test_the_tools_are_not_offered_while_github_is_not_configured(settings):
    settings.GITHUB_APP_ID = ""
    assert "GITHUB_APP_ID" in registry.get_tool("github.comment").unavailable_reason()


def test_get_issue_reads_the_issue_and_its_last_comments(installation, acme, fake_github):
    issue = call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id)
    assert (issue["title"], issue["state"], issue["body"], issue["labels"]) == ("Crash on login", "open",
                                                                                "It crashes.", ["bug"])
    assert [c["body"] for c in issue["last_comments"]] == [f"comment {n}" for n in range(3, 8)]
    assert fake_github.mints[4242] == 1  # minted once, then kept (encrypted) for the next call
    call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id)
    assert fake_github.mints[4242] == 1


def test_get_file_decodes_the_text_and_truncates_it(installation, acme, fake_github):
    fake_github.file(REPO, "docs/guide.md", "é" + "x" * (github_client.FILE_MAX_CHARS + 10))
    fake_github.file(REPO, "README.md", "# API\n")
    assert call("github.get_file", {"repo": REPO, "path": "README.md"}, tenant_id=acme.tenant_id)["text"] == "# API\n"
    long = call("github.get_file", {"repo": REPO, "path": "docs/guide.md", "ref": "main"}, tenant_id=acme.tenant_id)
    assert long["truncated"] and len(long["text"]) == github_client.FILE_MAX_CHARS and long["text"][0] == "é"


def test_get_file_says_a_file_over_a_megabyte_is_too_large_not_empty(installation, acme, fake_github):
    fake_github.file(REPO, "data/dump.sql", "x" * (1024 * 1024 + 1))
    fake_github.file(REPO, "empty.txt", "")
    with pytest.raises(RuntimeError, match="data/dump.sql in acme-org/api is too large to read"):
        call("github.get_file", {"repo": REPO, "path": "data/dump.sql"}, tenant_id=acme.tenant_id)
    assert call("github.get_file", {"repo": REPO, "path": "empty.txt"}, tenant_id=acme.tenant_id)["text"] == ""


def test_search_code_gives_paths_and_snippets(installation, acme, fake_github):
    fake_github.file(REPO, "app/login.py", "def login():\n    raise Crash()\n")
    fake_github.file(REPO, "README.md", "nothing here")
    found = call("github.search_code", {"repo": REPO, "query": "Crash"}, tenant_id=acme.tenant_id)
    assert [item["path"] for item in found["items"]] == ["app/login.py"]
    assert found["items"][0]["snippets"] == ["    raise Crash()"]


def test_a_run_asked_for_on_github_may_use_github_on_that_repository_only(installation, acme, fake_github):
    """A comment on acme-org/api must not steer Emma to the tenant's other repositories (acme-org/web)."""
    run_id = uuid.uuid4()
    GitHubRequest.objects.create(task_id=run_id, tenant_id=acme.tenant_id, repo=REPO, number=12)
    fake_github.file("acme-org/web", "secrets.txt", "hunter2")
    issue = call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id,
                 task_id=run_id)
    assert issue["title"] == "Crash on login"
    for tool, arguments in (("github.get_file", {"repo": "acme-org/web", "path": "secrets.txt"}),
                            ("github.search_code", {"repo": "acme-org/web", "query": "hunter2"}),
                            ("github.comment", {"repo": "acme-org/web", "number": 1, "body": "hi"})):
        with pytest.raises(Forbidden) as refused:
            call(tool, arguments, tenant_id=acme.tenant_id, task_id=run_id)
        assert str(refused.value) == "This run was asked on acme-org/api; it may use GitHub there only."
    # A run started in Emma (no GitHub request) reaches every repository of the tenant's installations.
    assert call("github.get_file", {"repo": "acme-org/web", "path": "secrets.txt"}, tenant_id=acme.tenant_id,
                task_id=uuid.uuid4())["text"] == "hunter2"


@pytest.mark.parametrize("query", ["hunter2 repo:acme-org/web", "hunter2 org:acme-org", "user:octocat hunter2",
                                   "hunter2 -REPO:acme-org/api", "hunter2 owner: acme-org"])
def test_search_code_refuses_a_query_that_widens_its_scope(installation, acme, fake_github, query):
    with pytest.raises(Invalid) as refused:
        call("github.search_code", {"repo": REPO, "query": query}, tenant_id=acme.tenant_id)
    assert "query" in refused.value.details and str(refused.value).startswith("query: the query may not")
    assert not [path for _, path in fake_github.requests if path.startswith("/search/code")]  # never asked


def test_comment_posts_once_with_a_hidden_marker(installation, acme, fake_github):
    result = call("github.comment", {"repo": REPO, "number": 12, "body": "Looking into it."},
                  tenant_id=acme.tenant_id)
    assert not result["already_posted"]
    assert fake_github.comments(REPO, 12)[-1] == "Looking into it.\n\n<!-- emma:run-1:step-3 -->"


def test_a_retry_after_a_crash_between_the_post_and_its_record_does_not_post_twice(installation, acme, fake_github):
    fake_github.lose_next_response("POST", "/comments")  # GitHub posts it, the answer never comes back
    with pytest.raises(registry.RetryableError):
        call("github.comment", {"repo": REPO, "number": 12, "body": "On it."}, tenant_id=acme.tenant_id)
    assert fake_github.comments(REPO, 12)[-1].startswith("On it.")

    retried = call("github.comment", {"repo": REPO, "number": 12, "body": "On it."}, tenant_id=acme.tenant_id)

    assert retried["already_posted"]
    assert sum(body.startswith("On it.") for body in fake_github.comments(REPO, 12)) == 1
    # another call (another key) is another comment
    call("github.comment", {"repo": REPO, "number": 12, "body": "On it."}, tenant_id=acme.tenant_id, key="run-1:step-5")
    assert sum(body.startswith("On it.") for body in fake_github.comments(REPO, 12)) == 2


def test_create_issue_opens_one_issue_across_a_retry(installation, acme, fake_github):
    arguments = {"repo": REPO, "title": "Flaky test", "body": "test_login fails 1 in 10", "labels": ["ci"]}
    fake_github.lose_next_response("POST", "/issues")
    with pytest.raises(registry.RetryableError):
        call("github.create_issue", arguments, tenant_id=acme.tenant_id)
    opened = call("github.create_issue", arguments, tenant_id=acme.tenant_id)
    issues = [issue for issue in fake_github.issues_of(REPO) if issue.title == "Flaky test"]
    assert len(issues) == 1 and issues[0].labels == ["ci"] and opened["number"] == issues[0].number
    assert opened["already_posted"]


def test_add_label_adds_the_labels(installation, acme, fake_github):
    result = call("github.add_label", {"repo": REPO, "number": 12, "labels": ["triaged", "bug"]},
                  tenant_id=acme.tenant_id)
    assert result["labels"] == ["bug", "triaged"] and fake_github.labels(REPO, 12) == ["bug", "triaged"]


def test_a_repository_outside_the_tenants_installations_is_refused(installation, acme, globex, fake_github):
    fake_github.install(5353, account="globex-org", repositories=["globex-org/secret"])
    fake_github.issue("globex-org/secret", 1, title="Globex's")
    GitHubInstallation.objects.create(tenant=Tenant.objects.get(slug="globex"), installation_id=5353,
                                      account_login="globex-org", account_type="Organization",
                                      repositories=["globex-org/secret"])
    with pytest.raises(NotFound):
        call("github.get_issue", {"repo": "globex-org/secret", "number": 1}, tenant_id=acme.tenant_id)
    with pytest.raises(NotFound):
        call("github.comment", {"repo": "someone/else", "number": 1, "body": "hi"}, tenant_id=acme.tenant_id)
    assert fake_github.mints.get(5353) is None


def test_a_disabled_installation_is_refused(installation, acme, fake_github):
    GitHubInstallation.objects.update(disabled_at=timezone.now(), disabled_reason="uninstalled on GitHub")
    with pytest.raises(Forbidden):
        call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id)
    assert not fake_github.requests


def test_a_token_github_refuses_is_minted_again_and_the_call_succeeds(installation, acme, fake_github):
    call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id)
    fake_github.expire_tokens()  # still "valid" for an hour by Emma's clock, refused by GitHub's

    assert call("github.get_issue", {"repo": REPO, "number": 12}, tenant_id=acme.tenant_id)["title"] == "Crash on login"
    assert fake_github.mints[4242] == 2


def test_a_github_comment_task_runs_once_through_governance(installation, acme, fake_github):
    acme.set_policy(rules={"github.comment": "allow"})
    body = acme.submit(task_type="github.comment", parameters={"repo": REPO, "number": 12, "body": "Fixed in #13."})
    assert body["decision"] == "allow", body

    task_execute(task_id=body["task_id"])

    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.status == "succeeded", task.error
    assert fake_github.comments(REPO, 12)[-1] == f"Fixed in #13.\n\n<!-- emma:{task.pk} -->"
    assert task.result["url"].startswith(f"https://github.com/{REPO}/issues/12#issuecomment-")


def test_a_github_comment_task_on_a_foreign_repository_fails_without_posting(installation, acme, fake_github):
    acme.set_policy(rules={"github.comment": "allow"})
    body = acme.submit(task_type="github.comment", parameters={"repo": "octo/other", "number": 1, "body": "hi"})
    task_execute(task_id=body["task_id"])
    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.status == "failed" and "octo/other" in str(task.error)
    assert not any(method == "POST" for method, _ in fake_github.requests)


@pytest.mark.django_db(transaction=True)
def test_workers_needing_a_new_token_at_once_mint_one(fake_github, make_user):
    """The row is locked while a token is minted: the others wait and use it."""
    user = make_user("olivia", tenant="acme", role="admin")
    fake_github.install(4242, account="acme-org", repositories=[REPO])
    installation = GitHubInstallation.objects.create(
        tenant_id=user.memberships.get().tenant_id, installation_id=4242, account_login="acme-org",
        account_type="Organization", repositories=[REPO])

    tokens = run_concurrently(lambda _: github_client.installation_token(installation_pk=installation.pk), range(4))

    assert len(set(tokens)) == 1 and fake_github.mints[4242] == 1
