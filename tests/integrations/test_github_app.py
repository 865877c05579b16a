"""Connecting GitHub: a tenant admin installs Emma's GitHub App through /oauth/github/authorize and the callback,
against the fake GitHub (tests/fakes/github.py), the browser's hops followed by hand; and the App's webhooks,
routed to the installation's tenant and verified with the App's secret, which disable an installation at once."""

import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.errors import Forbidden
from core.models import Tenant
from governance.models import AuditEvent
from integrations.github import client as github_client
from emma.models import AgentTask
from integrations.models import GitHubInstallation, GitHubOAuthState, RoutingRule, WebhookDelivery
from tests.fakes.github import APP_SLUG, WEBHOOK_SECRET
from tests.integrations.conftest import GITHUB_WEBHOOK_SECRET, hub_signature, process_deliveries

pytestmark = pytest.mark.django_db

REPOS = ["acme-org/api", "acme-org/web"]


@pytest.fixture
def installed(fake_github):
    """acme-org installed Emma's App on GitHub; octocat can reach it and is the one who comes back."""
    fake_github.install(4242, account="acme-org", repositories=REPOS, users=["octocat"])
    fake_github.next_install(installation_id=4242, user="octocat")
    return fake_github


@pytest.fixture
def admin(make_user):
    return make_user("olivia", tenant="acme", role="admin")


def session_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def authorize(client: Client) -> str:
    """Start connecting; the URL of GitHub's installation page Emma sends the browser to."""
    response = client.get("/oauth/github/authorize")
    assert response.status_code == 302, response.content
    return response["Location"]


def at_github(location: str) -> str:
    """The browser at GitHub: the fake answers the installation page with the redirect to Emma's callback."""
    response = httpx.get(location, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def back_to_emma(client: Client, callback: str):
    url = urlsplit(callback)
    return client.get(f"{url.path}?{url.query}")


def connect(client: Client):
    return back_to_emma(client, at_github(authorize(client)))


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def token_requests(fake) -> int:
    return sum(1 for method, path in fake.requests if path == "/login/oauth/access_token")


# --- connecting -------------------------------------------------------------------------------------------


def test_a_tenant_admin_connects_github_and_the_installation_is_recorded(installed, admin):
    client = session_of(admin)
    location = authorize(client)
    assert location.startswith(f"{installed.url}/apps/{APP_SLUG}/installations/new?state=")
    state = location.split("state=", 1)[1]
    assert not GitHubOAuthState.objects.filter(state_hash=state).exists()  # only a hash is kept

    response = back_to_emma(client, at_github(location))

    installation = GitHubInstallation.objects.get(installation_id=4242)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/integrations/githubinstallation/{installation.pk}/change/"
    assert installation.tenant.slug == "acme" and installation.installed_by == admin
    assert (installation.account_login, installation.account_type) == ("acme-org", "Organization")
    assert installation.repositories == REPOS and installation.permissions["issues"] == "write"
    assert installation.access_token.startswith("ghs_") and installation.access_token_expires_at > timezone.now()
    assert installation.user_access_token.startswith("ghu_") and installation.refresh_token.startswith("ghr_")
    assert installation.github_user_login == "octocat" and installation.disabled_at is None
    assert installed.mints[4242] == 1
    event = AuditEvent.objects.get(tenant_id=installation.tenant_id, action="github.installation.connected")
    assert event.actor == "olivia" and "ghs_" not in json.dumps(event.after)
    shown = client.get(response["Location"]).content.decode()  # the admin's page of it, with a success message
    assert "GitHub connected: acme-org (2 repositories)." in shown and "ghs_" not in shown


def test_connecting_again_updates_and_re_enables_the_installation(installed, admin):
    client = session_of(admin)
    connect(client)
    GitHubInstallation.objects.update(disabled_at=timezone.now(), disabled_reason="suspended on GitHub")
    installed.install(4242, account="acme-org", repositories=[*REPOS, "acme-org/docs"], users=["octocat"])

    assert connect(client).status_code == 302

    installation = GitHubInstallation.objects.get()
    assert installation.disabled_at is None and "acme-org/docs" in installation.repositories


def test_only_a_tenant_admin_with_an_admin_session_may_connect(installed, make_user):
    submitter = make_user("sam", tenant="acme", role="submitter")
    refused = session_of(submitter).get("/oauth/github/authorize")
    assert refused.status_code == 403 and error_of(refused)["code"] == "permission_denied"
    anonymous = Client().get("/oauth/github/authorize")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/?next=")
    assert not GitHubOAuthState.objects.exists()


def test_an_unconfigured_github_app_is_a_clear_503(installed, admin, settings):
    settings.GITHUB_APP_ID = ""
    response = session_of(admin).get("/oauth/github/authorize")
    assert response.status_code == 503 and "GITHUB_APP_ID" in error_of(response)["message"]
    assert not GitHubOAuthState.objects.exists()


def test_an_expired_state_is_refused_and_nothing_is_recorded(installed, admin):
    client = session_of(admin)
    callback = at_github(authorize(client))
    GitHubOAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = back_to_emma(client, callback)

    assert response.status_code == 400 and "expired" in error_of(response)["details"]["state"][0]
    assert not GitHubInstallation.objects.exists() and token_requests(installed) == 0


def test_a_state_is_used_once(installed, admin):
    client = session_of(admin)
    callback = at_github(authorize(client))
    assert back_to_emma(client, callback).status_code == 302

    again = back_to_emma(client, callback)

    assert again.status_code == 400 and "already used" in error_of(again)["details"]["state"][0]
    assert token_requests(installed) == 1 and GitHubInstallation.objects.count() == 1


def test_a_state_from_another_session_is_refused_and_stays_usable_by_its_own(installed, admin):
    mine, other = session_of(admin), session_of(admin)
    callback = at_github(authorize(mine))

    refused = back_to_emma(other, callback)

    assert refused.status_code == 400 and "not started from this session" in error_of(refused)["details"]["state"][0]
    assert not GitHubInstallation.objects.exists() and token_requests(installed) == 0
    assert back_to_emma(mine, callback).status_code == 302


def test_a_state_of_another_user_is_refused(installed, admin, make_user):
    callback = at_github(authorize(session_of(admin)))
    other_admin = make_user("oscar", tenant="acme", role="admin")
    response = back_to_emma(session_of(other_admin), callback)
    assert response.status_code == 400 and not GitHubInstallation.objects.exists()


def test_a_github_user_who_cannot_reach_the_installation_cannot_claim_it(installed, admin):
    installed.next_install(installation_id=4242, user="mallory")  # mallory names acme-org's installation id

    response = connect(session_of(admin))

    assert response.status_code == 403 and "cannot reach installation 4242" in error_of(response)["message"]
    assert not GitHubInstallation.objects.exists() and installed.mints.get(4242) is None


def test_a_member_of_the_organisation_who_is_not_an_owner_cannot_claim_its_installation(installed, admin):
    """mallory reaches the installation (a repository of acme-org is shared with her), but only an owner of
    acme-org may connect it to a tenant."""
    installed.install(4242, account="acme-org", repositories=REPOS, users=["octocat", "mallory"],
                      roles={"octocat": "admin", "mallory": "member"})
    installed.next_install(installation_id=4242, user="mallory")

    response = connect(session_of(admin))

    assert response.status_code == 403 and "not an owner of the acme-org organisation" in error_of(response)["message"]
    assert not GitHubInstallation.objects.exists() and installed.mints.get(4242) is None


def test_an_installation_on_a_personal_account_is_claimed_by_that_account_only(installed, admin):
    installed.install(5151, account="octocat", account_type="User", repositories=["octocat/dotfiles"],
                      users=["octocat", "mallory"])  # mallory collaborates on a repository of octocat's
    installed.next_install(installation_id=5151, user="mallory")
    refused = connect(session_of(admin))
    assert refused.status_code == 403 and "is not octocat" in error_of(refused)["message"]
    assert not GitHubInstallation.objects.exists()

    installed.next_install(installation_id=5151, user="octocat")
    assert connect(session_of(admin)).status_code == 302
    assert GitHubInstallation.objects.get().account_login == "octocat"


def test_an_installation_of_another_tenant_is_refused_not_moved(installed, admin):
    globex = Tenant.objects.create(slug="globex", name="Globex")
    GitHubInstallation.objects.create(tenant=globex, installation_id=4242, account_login="acme-org",
                                      account_type="Organization", repositories=["acme-org/api"])

    response = connect(session_of(admin))

    assert response.status_code == 409 and error_of(response)["code"] == "conflict"
    installation = GitHubInstallation.objects.get()
    assert installation.tenant == globex and installation.access_token is None


@pytest.mark.django_db(transaction=True)
def test_two_tenants_connecting_one_new_installation_at_once_one_wins_the_other_gets_a_conflict(
        installed, make_user):
    """Both callbacks look the installation up (none yet) before either inserts it (held at a barrier just
    before the insert): the second insert violates the unique id, and is answered Conflict, never a 500."""
    import threading

    from django.db.models.signals import pre_save

    from core.errors import Conflict
    from integrations.github import services as github_services
    from tests.conftest import run_concurrently

    admins = [make_user("olivia", tenant="acme", role="admin"), make_user("gus", tenant="globex", role="admin")]
    starts = [(admin, github_services.oauth_state_create(user=admin, tenant_id=admin.memberships.get().tenant_id,
                                                         session_key=f"session-{admin.pk}")) for admin in admins]
    both_looked = threading.Barrier(2, timeout=10)

    def at_the_insert(sender, instance, **kwargs):
        if instance.pk is None:
            both_looked.wait()

    def callback(start):
        admin, state = start
        try:
            return github_services.installation_connect(
                state=state, user=admin, session_key=f"session-{admin.pk}", installation_id=4242,
                code=installed.code_for(user="octocat", installation_id=4242)).tenant_id
        except Conflict as exc:
            return exc

    pre_save.connect(at_the_insert, sender=GitHubInstallation)
    try:
        outcomes = run_concurrently(callback, starts)
    finally:
        pre_save.disconnect(at_the_insert, sender=GitHubInstallation)

    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(conflicts) == 1 and "is connected to another tenant" in str(conflicts[0])
    winner, = [outcome for outcome in outcomes if not isinstance(outcome, Conflict)]
    assert list(GitHubInstallation.objects.values_list("tenant_id", flat=True)) == [winner]


def test_a_bad_code_is_a_clear_400(installed, admin):
    client = session_of(admin)
    location = authorize(client)
    state = location.split("state=", 1)[1]
    response = client.get("/oauth/github/callback", {"code": "not-a-code", "installation_id": 4242, "state": state,
                                                     "setup_action": "install"})
    assert response.status_code == 400 and error_of(response)["code"] == "github_refused"
    assert not GitHubInstallation.objects.exists()


@pytest.mark.parametrize("query", [{}, {"state": "x", "installation_id": "nope", "code": "c"},
                                   {"state": "x", "installation_id": "4242"}, {"error": "access_denied"}])
def test_a_callback_without_what_github_sends_is_a_400(installed, admin, query):
    response = session_of(admin).get("/oauth/github/callback", query)
    assert response.status_code == 400 and error_of(response)["message"]
    assert not GitHubInstallation.objects.exists()


def test_tokens_are_encrypted_at_rest_and_read_after_a_key_rotation(installed, admin, settings):
    connect(session_of(admin))
    installation = GitHubInstallation.objects.get()
    tokens = {installation.access_token, installation.user_access_token, installation.refresh_token}
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, user_access_token, refresh_token FROM integrations_githubinstallation")
        raw = set(cursor.fetchone())
    assert not tokens & raw and all(value.startswith("gAAAA") for value in raw)

    old, new = settings.EMMA_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    settings.EMMA_ENCRYPTION_KEYS = [new, old]
    call_command("emma_rotate_encryption_keys", stdout=open("/dev/null", "w"))
    settings.EMMA_ENCRYPTION_KEYS = [new]  # the old key dropped

    rotated = GitHubInstallation.objects.get()
    assert {rotated.access_token, rotated.user_access_token, rotated.refresh_token} == tokens


# --- the installation token ---------------------------------------------------------------------------------


def test_an_installation_token_is_minted_again_when_it_expires_within_five_minutes(installed, admin):
    connect(session_of(admin))
    installation = GitHubInstallation.objects.get()
    first = installation.access_token
    assert github_client.installation_token(installation_pk=installation.pk) == first
    assert installed.mints[4242] == 1

    GitHubInstallation.objects.update(access_token_expires_at=timezone.now() + timedelta(minutes=4))
    fresh = github_client.installation_token(installation_pk=installation.pk)

    assert fresh != first and installed.mints[4242] == 2
    assert GitHubInstallation.objects.get().access_token == fresh


# --- the App's webhooks -------------------------------------------------------------------------------------


def app_webhook(client, event: str, payload: dict, *, secret=WEBHOOK_SECRET, delivery_id=None):
    body = json.dumps(payload).encode()
    return client.post("/webhooks/github/app", data=body, content_type="application/json", headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": hub_signature(secret, body)})


@pytest.fixture
def connected(installed, admin):
    connect(session_of(admin))
    return GitHubInstallation.objects.get()


def issue_opened(installation_id=4242):
    return {"action": "opened", "installation": {"id": installation_id},
            "repository": {"full_name": "acme-org/api"}, "sender": {"login": "octocat"},
            "issue": {"number": 12, "title": "Crash on login", "html_url": "https://github.com/acme-org/api/issues/12"}}


def test_an_app_webhook_goes_to_the_tenant_of_its_installation(connected, client):
    response = app_webhook(client, "issues", issue_opened())
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.tenant_id == connected.tenant_id and delivery.provider == "github"


def test_an_app_webhook_of_an_unknown_installation_belongs_to_no_tenant(connected, client):
    assert app_webhook(client, "issues", issue_opened(installation_id=999)).status_code == 200
    assert WebhookDelivery.objects.get().tenant_id is None


def test_an_app_webhook_is_verified_with_the_apps_secret(connected, client):
    refused = app_webhook(client, "issues", issue_opened(), secret=GITHUB_WEBHOOK_SECRET)
    assert refused.status_code == 403 and not WebhookDelivery.objects.exists()
    # and the repository webhook keeps its own secret
    body = json.dumps(issue_opened()).encode()
    repo_hook = client.post("/webhooks/github?tenant=acme", data=body, content_type="application/json", headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": hub_signature(WEBHOOK_SECRET, body)})
    assert repo_hook.status_code == 403 and not WebhookDelivery.objects.exists()


def test_an_app_webhook_without_the_apps_secret_configured_is_a_503(connected, client, settings):
    settings.GITHUB_APP_WEBHOOK_SECRET = ""
    assert app_webhook(client, "issues", issue_opened()).status_code == 503
    assert not WebhookDelivery.objects.exists()


def test_an_uninstall_disables_the_installation_at_once_and_tools_refuse(connected, client):
    response = app_webhook(client, "installation", {"action": "deleted", "installation": {"id": 4242},
                                                    "sender": {"login": "octocat", "id": 5000}})
    assert response.status_code == 200
    installation = GitHubInstallation.objects.get()  # changed in the request itself, before any processing
    assert installation.disabled_at is not None and installation.disabled_reason == "uninstalled on GitHub"
    with pytest.raises(Forbidden):
        github_client.installation_for_repo(tenant_id=connected.tenant_id, repo="acme-org/api")
    with pytest.raises(Forbidden):
        github_client.installation_token(installation_pk=installation.pk)
    assert AuditEvent.objects.filter(action="github.installation.disabled").exists()


def test_an_uninstall_holds_even_if_the_request_that_stored_it_could_not_apply_it(connected, client):
    """The delivery's processing applies an uninstall again (and is retried until it can)."""
    app_webhook(client, "installation", {"action": "deleted", "installation": {"id": 4242}})
    GitHubInstallation.objects.update(disabled_at=None, disabled_reason="")  # as if the request's attempt failed
    assert process_deliveries() == ["processed"]
    assert GitHubInstallation.objects.get().disabled_reason == "uninstalled on GitHub"


def test_a_suspension_disables_and_an_unsuspension_enables(connected, client):
    app_webhook(client, "installation", {"action": "suspend", "installation": {"id": 4242}})
    assert GitHubInstallation.objects.get().disabled_reason == "suspended on GitHub"
    app_webhook(client, "installation", {"action": "unsuspend", "installation": {"id": 4242}})
    assert GitHubInstallation.objects.get().disabled_at is None


def test_repositories_added_and_removed_on_github_are_recorded(connected, client):
    app_webhook(client, "installation_repositories", {
        "action": "added", "installation": {"id": 4242}, "repositories_added": [{"full_name": "acme-org/docs"}],
        "repositories_removed": []})
    app_webhook(client, "installation_repositories", {
        "action": "removed", "installation": {"id": 4242}, "repositories_added": [],
        "repositories_removed": [{"full_name": "acme-org/web"}]})
    assert GitHubInstallation.objects.get().repositories == ["acme-org/api", "acme-org/docs"]


def test_new_permissions_accepted_are_recorded(connected, client):
    app_webhook(client, "installation", {"action": "new_permissions_accepted", "installation": {
        "id": 4242, "permissions": {"issues": "write", "pull_requests": "write"}}})
    assert GitHubInstallation.objects.get().permissions == {"issues": "write", "pull_requests": "write"}


def test_a_revoked_authorisation_clears_the_users_tokens_and_disables(connected, client):
    github_user_id = connected.github_user_id
    app_webhook(client, "github_app_authorization", {"action": "revoked",
                                                     "sender": {"login": "octocat", "id": github_user_id}})
    installation = GitHubInstallation.objects.get()
    assert installation.user_access_token is None and installation.refresh_token is None
    assert installation.disabled_at is not None and "revoked" in installation.disabled_reason


def test_a_redelivered_lifecycle_event_is_not_applied_again(connected, client):
    delivery_id = str(uuid.uuid4())
    app_webhook(client, "installation", {"action": "suspend", "installation": {"id": 4242}}, delivery_id=delivery_id)
    app_webhook(client, "installation", {"action": "unsuspend", "installation": {"id": 4242}})
    replay = app_webhook(client, "installation", {"action": "suspend", "installation": {"id": 4242}},
                         delivery_id=delivery_id)
    assert replay.json() == {"status": "duplicate"} and GitHubInstallation.objects.get().disabled_at is None


def test_a_lifecycle_event_of_an_unknown_installation_changes_nothing(connected, client):
    app_webhook(client, "installation", {"action": "deleted", "installation": {"id": 999}})
    assert GitHubInstallation.objects.get().disabled_at is None


def test_routing_rules_apply_to_app_webhooks_in_the_installations_tenant(connected, client, admin):
    RoutingRule.objects.create(tenant_id=connected.tenant_id, name="New issues", provider="github",
                               event_type="issues", match={"action": "opened"}, channel="slack", to="C0ISSUES",
                               run_as=admin)
    app_webhook(client, "issues", issue_opened())

    assert process_deliveries() == ["processed"]

    task = AgentTask.objects.get(task_type="notify")
    assert task.tenant_id == connected.tenant_id and "Crash on login" in task.parameters["text"]


@pytest.mark.parametrize("payload", [
    {"action": "deleted", "installation": {"id": 2 ** 70}},
    {"action": "deleted", "installation": {"id": "4242"}},
    {"action": "deleted", "installation": [4242]},
    {"action": "deleted", "installation": {"id": True}},
    {"action": "added", "installation": {"id": 4242}, "repositories_added": 7, "repositories_removed": "x"},
    {"action": "new_permissions_accepted", "installation": {"id": 4242, "permissions": ["all"]}},
    {"action": "revoked", "sender": {"id": 2 ** 70}},
    {"action": "revoked", "sender": "octocat"},
])
def test_an_app_webhook_of_an_unexpected_shape_changes_nothing_and_is_no_500(connected, client, payload):
    event = {"added": "installation_repositories", "revoked": "github_app_authorization"}.get(payload["action"],
                                                                                           "installation")
    response = app_webhook(client, event, payload)
    assert response.status_code == 200
    installation = GitHubInstallation.objects.get()
    assert installation.disabled_at is None and installation.repositories == REPOS
    assert installation.user_access_token and installation.permissions["issues"] == "write"


def test_a_callback_with_an_installation_id_out_of_range_is_a_400(installed, admin):
    client = session_of(admin)
    state = authorize(client).split("state=", 1)[1]
    response = client.get("/oauth/github/callback", {"code": "c", "installation_id": str(2 ** 70), "state": state})
    assert response.status_code == 400 and "installation_id" in error_of(response)["details"]


def test_an_expiring_user_token_is_renewed_with_the_refresh_token(connected, installed):
    first, refresh = connected.user_access_token, connected.refresh_token
    assert github_client.user_token(installation_pk=connected.pk) == first

    GitHubInstallation.objects.update(user_access_token_expires_at=timezone.now() + timedelta(minutes=1))
    renewed = github_client.user_token(installation_pk=connected.pk)

    installation = GitHubInstallation.objects.get()
    assert renewed != first and installation.user_access_token == renewed
    assert installation.refresh_token not in (None, refresh)  # GitHub replaces the refresh token as well
    assert github_client.user_identity(user_token=renewed).login == "octocat"


def test_a_user_token_is_refused_once_the_authorisation_is_revoked(connected, client):
    app_webhook(client, "github_app_authorization", {"action": "revoked",
                                                     "sender": {"login": "octocat", "id": connected.github_user_id}})
    with pytest.raises(Forbidden):
        github_client.user_token(installation_pk=connected.pk)
