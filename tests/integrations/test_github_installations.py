"""GitHub installations: their tokens are encrypted at rest, and the admin shows a tenant's admins where
Emma's GitHub App is installed and whether each token is set, never a token."""

import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, connection

from core.models import Tenant
from integrations.models import GitHubInstallation

pytestmark = pytest.mark.django_db

ACCESS_TOKEN, REFRESH_TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169"
USER_TOKEN = "ghu_2C7e42F292c6912E7710c838347Ae178B4a16"


def installation(tenant="acme", installation_id=4242, **fields):
    tenant, _ = Tenant.objects.get_or_create(slug=tenant, defaults={"name": tenant})
    return GitHubInstallation.objects.create(
        tenant=tenant, installation_id=installation_id, account_login=f"{tenant.slug}-org",
        account_type=GitHubInstallation.AccountType.ORGANIZATION, **fields)


def page(client, installation_obj=None) -> str:
    url = "/admin/integrations/githubinstallation/"
    response = client.get(f"{url}{installation_obj.pk}/change/" if installation_obj else url)
    assert response.status_code == 200
    return response.content.decode()


def test_an_installation_keeps_its_repositories_permissions_and_tokens(make_user):
    owner = make_user("olivia", role="admin")
    saved = installation(repositories=["acme-org/api", "acme-org/web"], permissions={"issues": "write"},
                         access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, installed_by=owner)
    loaded = GitHubInstallation.objects.for_tenant(saved.tenant).get()
    assert loaded.repositories == ["acme-org/api", "acme-org/web"] and loaded.permissions == {"issues": "write"}
    assert (loaded.access_token, loaded.refresh_token, loaded.installed_by) == (ACCESS_TOKEN, REFRESH_TOKEN, owner)
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM integrations_githubinstallation")
        assert not {ACCESS_TOKEN, REFRESH_TOKEN} & set(cursor.fetchone())
    assert installation(tenant="globex", installation_id=4343).repositories == []


def test_an_installation_id_belongs_to_one_row():
    installation()
    with pytest.raises(IntegrityError):
        installation(tenant="globex")


def test_the_admin_never_shows_a_token_only_whether_it_is_set(admin_client):
    with_tokens = installation(access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, user_access_token=USER_TOKEN,
                               repositories=["acme-org/api"], permissions={"contents": "read"})
    without = installation(tenant="globex", installation_id=4343)
    listing = page(admin_client)
    assert "acme-org" in listing and "globex-org" in listing
    for body in (listing, page(admin_client, with_tokens), page(admin_client, without)):
        assert ACCESS_TOKEN not in body and REFRESH_TOKEN not in body and USER_TOKEN not in body
        assert "ghs_" not in body and "ghr_" not in body and "ghu_" not in body
    change = page(admin_client, with_tokens)
    assert "acme-org/api" in change and "contents" in change
    assert change.count(">set<") == 3 and ">not set<" not in change
    assert page(admin_client, without).count(">not set<") == 3


def test_the_admin_reads_no_token_so_a_key_that_cannot_open_it_does_not_break_it(admin_client, settings):
    saved = installation(access_token=ACCESS_TOKEN)
    settings.EMMA_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # opens nothing stored
    assert ">set<" in page(admin_client, saved) and "acme-org" in page(admin_client)


def test_a_tenant_admin_sees_only_their_tenants_installations_read_only(client, make_user):
    own, other = installation(access_token=ACCESS_TOKEN), installation(tenant="globex", installation_id=4343)
    client.force_login(make_user("ada", tenant="acme", role="admin"))
    listing = page(client)
    assert "acme-org" in listing and "globex-org" not in listing
    change = page(client, own)
    assert ACCESS_TOKEN not in change and 'name="_save"' not in change
    assert client.get(f"/admin/integrations/githubinstallation/{other.pk}/change/").status_code == 302
    assert client.get("/admin/integrations/githubinstallation/add/").status_code == 403
    assert client.post(f"/admin/integrations/githubinstallation/{own.pk}/delete/", {"post": "yes"}).status_code == 403
    assert GitHubInstallation.objects.count() == 2


def test_an_approver_does_not_see_installations(client, make_user):
    saved = installation()
    client.force_login(make_user("carol", tenant="acme", role="approver"))
    assert client.get("/admin/integrations/githubinstallation/").status_code == 403
    assert client.get(f"/admin/integrations/githubinstallation/{saved.pk}/change/").status_code == 403


def test_the_installations_screen_offers_to_connect_github(client, make_user):
    client.force_login(make_user("ada", tenant="acme", role="admin"))
    assert 'href="/oauth/github/authorize"' in page(client)
