"""No endpoint crosses a tenant boundary. Every route, as another tenant's user on this tenant's objects:
tests/test_authorization_matrix.py."""

import pytest

from emma.models import AgentTask

pytestmark = pytest.mark.django_db


def test_for_tenant_scopes_a_tenant_owned_model(acme, globex):
    acme.submit()
    globex.submit()
    globex.submit()
    assert AgentTask.objects.for_tenant(acme.tenant_id).count() == 1
    assert AgentTask.objects.for_tenant(globex.tenant_id).count() == 2


def test_malformed_ids_are_404_not_500(acme):
    assert acme.admin_api.get("/api/tasks/not-a-uuid").status_code == 404
    assert acme.admin_api.post("/api/escalations/123/approve", {"reason": "x"}, format="json").status_code == 404
