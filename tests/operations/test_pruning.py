"""Log retention: old rows go in short batches, open tasks keep their history, the audit chain stays whole."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.registries import register_prunable, unregister_prunable
from emma.models import AgentTask, TaskEvent
from governance.audit import verify_chain
from governance.models import AuditEvent
from memory.models import EpisodicEvent
from memory.services import episode_record
from operations import jobs
from operations.models import MaintenanceRun
from operations.retention import logs_prune
from tests.operations.conftest import submit_and_cancel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prunable():
    """register_prunable for one test: unregistered afterwards."""
    names = []

    def register(name, *args, **kwargs):
        names.append(name)
        register_prunable(name, *args, **kwargs)

    yield register
    for name in names:
        unregister_prunable(name)


def episodes(team, count, *, days_ago=0):
    for n in range(count):
        episode_record(tenant_id=team.tenant_id, kind="note", source="test", content=f"note {n}",
                       occurred_at=timezone.now() - timedelta(days=days_ago, seconds=1))


def test_prune_days_0_deletes_old_rows_in_batches_and_the_audit_chain_still_verifies(acme):
    submit_and_cancel(acme, 3)
    episodes(acme, 5)
    audit_before = AuditEvent.objects.count()
    assert TaskEvent.objects.count() >= 6 and audit_before > 0

    call_command("prune_logs", "--days", "0", "--batch-size", "2")

    assert TaskEvent.objects.count() == 0 and EpisodicEvent.objects.count() == 0
    assert AgentTask.objects.count() == 3  # tasks stay; their history goes
    run = MaintenanceRun.objects.get(job=jobs.PRUNE)
    assert run.outcome == MaintenanceRun.Outcome.SUCCESS
    pruned = run.figures["pruned"]
    assert pruned["memory.episodic_event"] == {"rows": 5, "batches": 3}
    assert pruned["emma.task_event"]["batches"] >= 3 and pruned["emma.task_event"]["rows"] >= 6
    assert AuditEvent.objects.count() == audit_before
    checked, broken = verify_chain()
    assert broken is None and checked == audit_before


def test_prune_keeps_what_is_younger_than_the_retention_period(acme, settings):
    settings.LOG_RETENTION_DAYS = 30
    submit_and_cancel(acme, 2)
    old_task = AgentTask.objects.order_by("created_at").first()
    TaskEvent.objects.filter(task=old_task).update(created_at=timezone.now() - timedelta(days=31))
    episodes(acme, 2, days_ago=31)
    episodes(acme, 3, days_ago=29)

    run = jobs.prune_job()

    assert not TaskEvent.objects.filter(task=old_task).exists()
    assert TaskEvent.objects.exclude(task=old_task).exists()
    assert EpisodicEvent.objects.count() == 3
    assert run.figures["days"] == 30 and run.figures["pruned"]["memory.episodic_event"]["rows"] == 2


def test_a_task_still_open_keeps_its_history(acme):
    body = acme.submit("webhook.post", parameters={"url": "https://crm.example.com/hook", "body": {}})
    assert body["status"] == "pending_approval"

    logs_prune(days=0)

    assert TaskEvent.objects.filter(task_id=body["task_id"]).exists()


def test_maintenance_runs_are_pruned_except_each_jobs_last_success():
    jobs.vacuum_job()
    last_vacuum = jobs.vacuum_job()

    run = jobs.prune_job(days=0)

    assert set(MaintenanceRun.objects.values_list("pk", flat=True)) == {last_vacuum.pk, run.pk}


def test_a_callable_action_prunes_in_place_and_stops_when_nothing_changes(acme, prunable):
    episodes(acme, 3)
    prunable("test.episode_bodies", lambda: EpisodicEvent.objects.exclude(content=""), "occurred_at",
                      action=lambda batch: batch.update(content=""))

    figures = logs_prune(days=0, batch_size=2, only=["test.episode_bodies"])

    assert figures["pruned"]["test.episode_bodies"] == {"rows": 3, "batches": 2}
    assert EpisodicEvent.objects.count() == 3 and not EpisodicEvent.objects.exclude(content="").exists()


def test_the_audit_chain_can_never_be_pruned(acme, prunable):
    submit_and_cancel(acme, 1)
    prunable("test.audit", lambda: AuditEvent.objects.all(), "created_at")

    with pytest.raises(ValueError, match="never pruned"):
        logs_prune(days=0, only=["test.audit"])
    assert AuditEvent.objects.exists()


def test_export_audit_archive_copies_old_events_to_a_file_and_keeps_them(acme, tmp_path):
    submit_and_cancel(acme, 2)
    events = list(AuditEvent.objects.order_by("tenant_id", "seq"))
    out = tmp_path / "audit.jsonl"

    call_command("export_audit_archive", "--before", (timezone.now() + timedelta(days=1)).date().isoformat(),
                 "--out", str(out))

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["seq"], line["hash"], line["prev_hash"]) for line in lines] == [
        (event.seq, event.hash, event.prev_hash) for event in events]
    assert (tmp_path / "audit.jsonl.sha256").read_text().endswith("  audit.jsonl\n")
    assert AuditEvent.objects.count() == len(events)
    assert verify_chain()[1] is None
