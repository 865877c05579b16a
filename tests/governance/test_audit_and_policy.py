"""The audit chain reveals tampering; policies are versioned and rolled back, never rewritten."""

import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from governance.audit import verify_chain
from governance.models import AuditEvent
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db


def run_verify(**env):
    return subprocess.run([sys.executable, "manage.py", "verify_audit_log"], cwd=ROOT, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=120)


def test_every_step_is_audited_in_one_chain_per_tenant(acme, globex):
    body = acme.submit(estimated_cost=50)
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json")
    cancelled = acme.submit()
    acme.submitter_api.post(f"/api/tasks/{cancelled['task_id']}/cancel")
    acme.set_policy(cost_threshold=20)
    globex.submit()
    actions = list(AuditEvent.objects.filter(tenant_id=acme.tenant_id).order_by("seq").values_list("action", flat=True))
    assert actions == ["task.submitted", "escalation.opened", "escalation.approved", "task.submitted",
                       "task.cancelled", "policy.updated"]
    assert list(AuditEvent.objects.filter(tenant_id=globex.tenant_id).values_list("seq", flat=True)) == [1]
    checked, broken = verify_chain()
    assert broken is None and checked == 7


@pytest.mark.django_db(transaction=True)
def test_database_refuses_update_and_delete_of_audit_rows(acme):
    acme.submit()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.update(actor="mallory")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_log_names_the_first_altered_event(acme):
    for _ in range(3):
        acme.submit()
    assert run_verify().returncode == 0
    target = AuditEvent.objects.get(tenant_id=acme.tenant_id, seq=2)
    with connection.cursor() as cursor:  # a superuser bypassing the trigger, as an attacker with DB access
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE governance_auditevent SET actor = 'mallory' WHERE id = %s", [target.pk])
        cursor.execute("SET session_replication_role = DEFAULT")
    result = run_verify()
    assert result.returncode != 0
    assert f"id={target.pk}" in result.stderr and "seq 2" in result.stderr and "altered" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_verify_audit_log_notices_a_removed_event(acme):
    for _ in range(3):
        acme.submit()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM governance_auditevent WHERE tenant_id = %s AND seq = 2", [acme.tenant_id])
        cursor.execute("SET session_replication_role = DEFAULT")
    result = run_verify()
    assert result.returncode != 0 and "seq 3" in result.stderr


def test_audit_api_is_for_admins_and_filters(acme, globex):
    acme.submit()
    acme.submit(estimated_cost=50)
    assert acme.submitter_api.get("/api/audit").status_code == 403
    events = acme.admin_api.get("/api/audit", {"action": "escalation.opened"}).json()
    assert events["count"] == 1 and events["results"][0]["hash"]
    assert globex.admin_api.get("/api/audit").json()["count"] == 0
    assert acme.admin_api.get("/api/audit", {"since": "yesterday"}).status_code == 400


def test_policy_changes_are_versioned_with_author_and_diff(acme):
    assert acme.submitter_api.get("/api/governance/policy").json()["version"] == 0
    acme.set_policy(autonomy_level="autonomous")
    acme.set_policy(cost_threshold=5, rules={"diagnostic.sleep": "deny"})
    versions = acme.admin_api.get("/api/governance/policy/versions").json()["results"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["author"] == "acme-admin"
    assert versions[0]["diff"]["cost_threshold"] == {"from": 10.0, "to": 5.0}
    assert versions[1]["diff"] == {"autonomy_level": {"from": "supervised", "to": "autonomous"}}


def test_rollback_creates_a_new_version_with_the_old_document(acme):
    acme.set_policy(autonomy_level="autonomous")
    acme.set_policy(autonomy_level="restricted")
    response = acme.admin_api.post("/api/governance/policy/rollback", {"version": 1}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 3 and response.json()["policy"]["autonomy_level"] == "autonomous"
    assert acme.submit()["decision"] == "allow"
    missing = acme.admin_api.post("/api/governance/policy/rollback", {"version": 42}, format="json")
    assert missing.status_code == 400 and "version" in missing.json()["error"]["details"]


@pytest.mark.parametrize("document, field", [
    ({"autonomy_level": "reckless"}, "autonomy_level"),
    ({"rules": {"diagnostic.echo": "maybe"}}, "rules"),
    ({"cost_threshold": -1}, "cost_threshold"),
    ({"ladder": []}, "ladder"),
    ({"ladder": [{"group": "x"}]}, "ladder"),
    ({"ladder": [{"timeout_seconds": 5, "colour": "red"}]}, "ladder"),
    ({"budget": 5}, "budget"),
])
def test_invalid_policy_is_400_naming_the_field_and_changes_nothing(acme, document, field):
    response = acme.admin_api.put("/api/governance/policy", document, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert acme.admin_api.get("/api/governance/policy").json()["version"] == 0


def test_only_tenant_admins_change_policy(acme):
    assert acme.approver_api.put("/api/governance/policy", {"autonomy_level": "autonomous"},
                                 format="json").status_code == 403
    assert acme.approver_api.post("/api/governance/policy/rollback", {"version": 1},
                                  format="json").status_code == 403
