"""Approval SLAs on a scripted history: time to decision per tenant, tier group and approver, the share of chains
no one decided, and the time tasks and agent runs waited (GET /api/governance/stats)."""

import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from governance.models import Escalation

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=dt_timezone.utc)
WINDOW = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}


def escalation(team, *, group="leads", opened=0, closed=None, status="approved", by=None, previous=None,
               step=None, task_id=None):
    row = Escalation.objects.create(
        tenant_id=team.tenant_id, task_id=task_id or (previous.task_id if previous else uuid.uuid4()),
        task_type="webhook.post", risk="medium", requester=team.submitter, approver_group=group,
        tier=previous.tier + 1 if previous else 0, deadline=T0 + timedelta(hours=1), status=status, decided_by=by,
        decided_at=None if closed is None else T0 + timedelta(seconds=closed), previous=previous, step=step)
    Escalation.objects.filter(pk=row.pk).update(created_at=T0 + timedelta(seconds=opened))
    return Escalation.objects.get(pk=row.pk)


@pytest.fixture
def history(acme, globex):
    escalation(acme, closed=60, by=acme.approver)  # A: approved in a minute
    escalation(acme, closed=180, status="rejected", by=acme.admin)  # B: rejected in three
    first = escalation(acme, closed=300, status="escalated")  # C: nobody in "leads" answered in five minutes...
    escalation(acme, group="managers", opened=300, closed=400, by=acme.admin, previous=first)  # ...a manager did
    escalation(acme, group="", closed=900, status="expired", step=3)  # D: an agent's tool call, timed out
    escalation(acme, closed=50, status="cancelled")  # E: withdrawn: neither decided nor expired
    escalation(acme)  # F: still open
    escalation(globex, closed=5, by=globex.approver)  # another tenant's


def test_the_figures_of_a_scripted_history(acme, history):
    body = acme.approver_api.get("/api/governance/stats", WINDOW).json()
    # Decisions by a person: 60 s (leads, approver), 180 s (leads, admin), 100 s (managers, admin).
    assert body["time_to_decision"] == {"decisions": 3, "p50_seconds": 100.0, "p95_seconds": 172.0}
    assert body["by_group"] == [
        {"group": "leads", "decisions": 2, "p50_seconds": 120.0, "p95_seconds": 174.0},
        {"group": "managers", "decisions": 1, "p50_seconds": 100.0, "p95_seconds": 100.0}]
    assert body["by_approver"] == [
        {"approver": acme.admin.username, "decisions": 2, "p50_seconds": 140.0, "p95_seconds": 176.0},
        {"approver": acme.approver.username, "decisions": 1, "p50_seconds": 60.0, "p95_seconds": 60.0}]
    # Chains ended: A, B, C (at its second tier), D; D ended with no one deciding.
    assert (body["chains_ended"], body["expired"], body["expired_share"]) == (4, 1, 0.25)
    # Waiting from each chain's first tier: 60 + 180 + 400 + 900; the agent run's alone: 900.
    assert (body["waiting_seconds"], body["agent_waiting_seconds"]) == (1540.0, 900.0)


def test_a_window_without_escalations_has_no_figures(acme, history):
    body = acme.approver_api.get("/api/governance/stats", {"from": "2026-10-01T00:00:00Z",
                                                           "to": "2026-10-02T00:00:00Z"}).json()
    assert body["time_to_decision"] == {"decisions": 0, "p50_seconds": None, "p95_seconds": None}
    assert (body["by_group"], body["by_approver"], body["chains_ended"], body["expired_share"]) == ([], [], 0, None)


def test_submitters_may_not_read_them_and_a_bad_window_is_a_400(acme):
    assert acme.submitter_api.get("/api/governance/stats").status_code == 403
    bad = acme.admin_api.get("/api/governance/stats", {"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"})
    assert bad.status_code == 400 and "from" in bad.json()["error"]["details"]
    assert acme.admin_api.get("/api/governance/stats", {"days": 3}).status_code == 400


def test_metrics_show_every_tenants_figures_of_the_last_week(acme, history, monkeypatch, django_assert_max_num_queries):
    from governance import metrics, stats

    monkeypatch.setattr(metrics.timezone, "now", lambda: T0 + timedelta(days=1))
    with django_assert_max_num_queries(3):
        families = {family.name: {tuple(sample.labels.values()): sample.value for sample in family.samples}
                    for family in metrics.approval_sla_collector.collect()}
    assert stats.METRICS_WINDOW == timedelta(days=7)
    times = families["emma_approval_time_to_decision_seconds"]
    assert times[("acme", "leads", "0.5")] == 120.0 and times[("acme", "managers", "0.95")] == 100.0
    assert times[("globex", "leads", "0.5")] == 5.0
    assert families["emma_approval_expired_ratio"] == {("acme",): 0.25, ("globex",): 0.0}
    assert families["emma_approval_waiting_seconds"][("acme", "task")] == 640.0
    assert families["emma_approval_waiting_seconds"][("acme", "agent_run")] == 900.0


def test_the_escalation_list_shows_the_slas_and_their_chart(acme, history, client, monkeypatch):
    from django.utils import timezone as django_timezone

    monkeypatch.setattr(django_timezone, "now", lambda: T0 + timedelta(days=1))
    client.force_login(acme.approver)
    page = client.get("/admin/governance/escalation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "p50 100 s, p95 172 s over 3 decisions" in html and "1 of 4 ended with no one deciding" in html
    assert "leads 120 / 174 s; managers 100 / 100 s" in html
    # 172 s is past two minutes: the chart counts in minutes.
    assert "Time to decision, p95 per day, last 14 days (min): peak 2.9 min at Nov 02" in html
