"""`manage.py dora_backfill`: a repository's deployments, merged pull requests and commits read from the fake
GitHub (tests/fakes/github.py) into the same rows the webhooks write, as the tenant's installation or with a
token; idempotent, bounded by --since, every refusal a CommandError."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.dora.models import Change, Deployment
from integrations.models import GitHubInstallation
from tests.integrations.conftest import hub_signature, process_deliveries
from tests.integrations.registered import register, send

pytestmark = pytest.mark.django_db

REPO = "acme-org/api"
TOKEN = "ghp_backfill_token_for_tests"
SINCE = "2026-03-01"
MERGE_SHA, COMMIT_SHA, OLD_SHA = "c" * 40, "d" * 40, "e" * 40


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def history(fake_github, settings):
    """acme-org/api's history around 1 March 2026, readable with TOKEN; GITHUB_BACKFILL_TOKEN unset."""
    settings.GITHUB_BACKFILL_TOKEN = ""
    fake_github.personal_token(TOKEN, repositories=[REPO])
    fake_github.deployment(REPO, 7001, sha="a" * 40, created_at="2026-03-02T10:00:00Z",
                           payload={"service": "checkout"}, description="Deploy checkout")
    fake_github.deployment_status(REPO, 7001, "in_progress", created_at="2026-03-02T10:01:00Z")
    fake_github.deployment_status(REPO, 7001, "success", created_at="2026-03-02T10:05:00Z")
    fake_github.deployment(REPO, 7002, sha="b" * 40, environment="staging", created_at="2026-03-03T09:00:00Z")
    fake_github.deployment_status(REPO, 7002, "failure", created_at="2026-03-03T09:04:00Z")
    fake_github.deployment(REPO, 7003, sha="b" * 40, created_at="2026-03-04T09:00:00Z")  # no status yet
    fake_github.deployment(REPO, 6999, sha="0" * 40, created_at="2026-02-20T09:00:00Z")  # before --since
    fake_github.deployment_status(REPO, 6999, "success", created_at="2026-02-20T09:03:00Z")
    fake_github.pull(REPO, 31, merge_commit_sha=MERGE_SHA, merged_at="2026-03-01T16:00:00Z", title="Faster checkout")
    fake_github.pull(REPO, 32, merge_commit_sha=None, merged_at=None, closed_at="2026-03-02T08:00:00Z")  # not merged
    fake_github.pull(REPO, 30, merge_commit_sha="9" * 40, merged_at="2026-02-10T12:00:00Z")  # before --since
    fake_github.commit(REPO, MERGE_SHA, date="2026-03-01T16:00:00Z", message="Merge pull request #31")
    fake_github.commit(REPO, COMMIT_SHA, date="2026-03-02T09:30:00Z", message="Fix rounding\n\nIn the cart.",
                       login="dana")
    fake_github.commit(REPO, OLD_SHA, date="2026-02-15T09:30:00Z")  # before --since
    return fake_github


def backfill(*extra: str, tenant: str = "acme", repo: str = REPO, since: str = SINCE) -> str:
    out = io.StringIO()
    call_command("dora_backfill", "--tenant", tenant, "--provider", "github", "--repo", repo, "--since", since,
                 *extra, stdout=out)
    return out.getvalue()


def test_backfill_stores_what_github_shows_since_the_date_as_the_webhooks_would(acme, history):
    said = backfill("--token", TOKEN)
    assert "3 deployments, 1 merged pull requests, 2 commits" in said and "read with the token" in said

    deployments = {row.key: row for row in Deployment.objects.filter(tenant_id=acme.tenant_id, provider="github")}
    assert sorted(deployments) == ["7001", "7002", "7003"]  # 6999 is older than --since
    checkout = deployments["7001"]  # the latest status decides: success, finished when it was posted
    assert (checkout.service, checkout.environment, checkout.status, checkout.sha, checkout.repository) == (
        "checkout", "production", "success", "a" * 40, REPO)
    assert (checkout.started_at, checkout.finished_at) == (at("2026-03-02T10:00:00Z"), at("2026-03-02T10:05:00Z"))
    assert list(checkout.changes.values_list("sha", flat=True)) == ["a" * 40]
    staging = deployments["7002"]  # no payload.service: the repository's name
    assert (staging.service, staging.environment, staging.status, staging.finished_at) == (
        "api", "staging", "failure", at("2026-03-03T09:04:00Z"))
    assert (deployments["7003"].status, deployments["7003"].finished_at) == ("in_progress", None)

    changes = {row.sha: row for row in Change.objects.filter(tenant_id=acme.tenant_id)}
    assert sorted(changes) == [MERGE_SHA, COMMIT_SHA]  # the unmerged and the older ones are not changes
    merged = changes[MERGE_SHA]  # the pull request and its merge commit: one change
    assert (merged.repository, merged.pull_request, merged.merged_at, merged.committed_at) == (
        REPO, "31", at("2026-03-01T16:00:00Z"), at("2026-03-01T16:00:00Z"))
    fix = changes[COMMIT_SHA]
    assert (fix.title, fix.author, fix.committed_at, fix.url) == (
        "Fix rounding", "dana", at("2026-03-02T09:30:00Z"), f"https://github.com/{REPO}/commit/{COMMIT_SHA}")


def test_backfill_twice_reads_the_same_and_adds_no_row(acme, history, settings):
    settings.GITHUB_BACKFILL_TOKEN = TOKEN  # the token from the environment
    first = backfill()
    rows = (Deployment.objects.count(), Change.objects.count())
    assert backfill() == first
    assert (Deployment.objects.count(), Change.objects.count()) == rows == (3, 2)


def test_the_webhooks_and_a_backfill_of_the_same_things_share_their_rows(acme, history, client):
    endpoint, secret = register(acme, "github")

    def deliver(event: str, payload: dict, delivery: str):
        raw = json.dumps(payload).encode()
        response = send(client, endpoint, body=raw, headers={
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": hub_signature(secret, raw)})
        assert response.status_code == 200, response.content
        assert process_deliveries() == ["processed"]

    repository = {"full_name": REPO, "name": "api", "html_url": f"https://github.com/{REPO}"}
    # Before the backfill: a push of the commit (its push id is kept: the API does not say it).
    deliver("push", {"ref": "refs/heads/main", "after": COMMIT_SHA, "repository": repository, "commits": [
        {"id": COMMIT_SHA, "timestamp": "2026-03-02T09:30:00Z", "message": "Fix rounding",
         "url": f"https://github.com/{REPO}/commit/{COMMIT_SHA}", "author": {"username": "dana"}}]}, "d-push")
    backfill("--token", TOKEN)
    # After it: GitHub's deployment_status delivery of the status the backfill already read.
    deployment = next(d for d in history.deployments[REPO] if d["id"] == 7001)
    status = history.statuses[(REPO, 7001)][-1]
    deliver("deployment_status", {"action": "created", "deployment_status": status, "deployment": deployment,
                                  "repository": repository}, "d-status")

    row = Deployment.objects.get(tenant_id=acme.tenant_id, key="7001")  # one row, the webhook's delivery on it
    assert (row.status, row.service, row.finished_at, row.delivery_id is not None) == (
        "success", "checkout", at("2026-03-02T10:05:00Z"), True)
    assert Deployment.objects.count() == 3
    change = Change.objects.get(sha=COMMIT_SHA)
    assert (change.push, change.author, Change.objects.count()) == (COMMIT_SHA, "dana", 2)


def test_an_inactive_status_leaves_how_the_deployment_went_to_the_status_before_it(acme, history):
    """GitHub marks an environment's older deployments inactive (auto_inactive) when a newer one is made: the newest
    status that is not inactive decides; a deployment with only inactive ones is as without any, in progress."""
    history.deployment_status(REPO, 7001, "inactive", created_at="2026-03-04T09:00:00Z")  # retired by 7003
    history.deployment(REPO, 7004, sha="f" * 40, created_at="2026-03-05T09:00:00Z")
    history.deployment_status(REPO, 7004, "inactive", created_at="2026-03-05T09:30:00Z")
    backfill("--token", TOKEN)
    checkout, retired = Deployment.objects.get(key="7001"), Deployment.objects.get(key="7004")
    assert (checkout.status, checkout.finished_at) == ("success", at("2026-03-02T10:05:00Z"))
    assert (retired.status, retired.finished_at) == ("in_progress", None)


def test_since_bounds_every_list_and_pages_are_followed(acme, fake_github, settings):
    settings.GITHUB_BACKFILL_TOKEN = ""
    fake_github.personal_token(TOKEN, repositories=[REPO])
    for day in range(150):  # 150 commits, one a day from 1 January: 120 of them from 31 January on
        moment = datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=day)
        fake_github.commit(REPO, f"{day:040x}", date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "120 commits" in backfill("--token", TOKEN, since="2026-01-31")
    assert Change.objects.filter(tenant_id=acme.tenant_id).count() == 120
    assert fake_github.requests.count(("GET", f"/repos/{REPO}/commits")) == 2  # page 2 from the Link header


def test_backfill_reads_as_the_tenants_installation_when_one_reaches_the_repository(acme, history):
    history.install(4242, account="acme-org", repositories=[REPO])
    GitHubInstallation.objects.create(tenant_id=acme.tenant_id, installation_id=4242, account_login="acme-org",
                                      account_type="Organization", repositories=[REPO])
    assert "read with the installation 4242" in backfill()  # no token given
    assert history.mints[4242] == 1
    assert Deployment.objects.filter(tenant_id=acme.tenant_id).count() == 3


@pytest.mark.parametrize("case, arguments, message", [
    ("unknown tenant", {"tenant": "nobody"}, "No tenant 'nobody'"),
    ("not a repository", {"repo": "acme-org"}, "is not a repository"),
    ("no credentials", {}, "No GitHub installation of this tenant reaches acme-org/api"),
    ("a repository the token cannot read", {"repo": "acme-org/secret", "token": TOKEN}, "shows no repository"),
    ("GitHub refusing the token", {"token": "ghp_revoked"}, "GitHub answered 401"),
])
def test_what_cannot_be_read_is_a_command_error_and_stores_nothing(acme, history, case, arguments, message):
    extra = ("--token", arguments["token"]) if "token" in arguments else ()
    with pytest.raises(CommandError, match=message):
        backfill(*extra, tenant=arguments.get("tenant", "acme"), repo=arguments.get("repo", REPO))
    assert not Deployment.objects.exists() and not Change.objects.exists()
