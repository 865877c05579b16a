"""The admin for a person in several tenants: it acts in one (their oldest until they choose), says which,
and switches on request; what it shows is that tenant's."""

import pytest
from django.test import Client

from core.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def grace(make_user):
    """An approver in acme (first), an admin in globex."""
    make_user(username="grace", tenant="acme", role="approver")
    return make_user(username="grace", tenant="globex", role="admin")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_home_page_says_which_tenant_it_acts_in_and_offers_the_others(grace):
    page = signed_in(grace).get("/admin/").content.decode()
    assert "<h1>acme</h1>" in page and "approver." in page
    assert 'id="switch-tenant"' in page and "globex (admin)" in page


def test_switching_changes_the_tenant_and_role_the_admin_acts_with(grace):
    client = signed_in(grace)
    globex = Tenant.objects.get(slug="globex")
    response = client.post("/admin/switch-tenant/", {"tenant": str(globex.pk)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    page = client.get("/admin/").content.decode()
    assert "<h1>globex</h1>" in page and "admin." in page and "You now act in globex" in page
    # The role is globex's: the members screen, for tenant admins, opens now.
    assert client.get("/admin/core/membership/").status_code == 200


def test_a_tenant_one_is_not_in_or_nonsense_changes_nothing(grace, make_user):
    make_user(username="someone", tenant="initech")
    client = signed_in(grace)
    for value in (str(Tenant.objects.get(slug="initech").pk), "nonsense", ""):
        response = client.post("/admin/switch-tenant/", {"tenant": value})
        assert response.status_code == 302
        assert "<h1>acme</h1>" in client.get("/admin/").content.decode()
    assert client.get("/admin/switch-tenant/").status_code == 405


def test_a_person_in_one_tenant_is_offered_no_switch(make_user):
    page = signed_in(make_user(username="solo", tenant="acme", role="approver")).get("/admin/").content.decode()
    assert 'id="switch-tenant"' not in page


def test_a_superuser_in_no_tenant_reads_a_tenants_escalation_but_decides_it_only_through_a_membership(
        acme, acme_escalation):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = signed_in(root)
    page = client.get("/admin/").content.decode()
    assert 'id="no-tenant"' in page and "emma_user root --tenant" in page
    # Operators read every tenant (support); deciding is for the tenant's own people.
    detail = client.get(f"/admin/governance/escalation/{acme_escalation}/change/").content.decode()
    assert "a superuser decides only through a membership there" in detail
    assert 'id="approve-button"' not in detail


@pytest.fixture
def acme_escalation(acme):
    result = acme.submit(estimated_cost=50)
    assert result["decision"] == "escalate"
    return result["escalation_id"]
