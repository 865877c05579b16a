"""The admin's home page for each role (approver, tenant admin, submitter), its charts, the site's
name, and who may sign in."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.charts import bar_chart, meter
from emma.models import AgentTask
from governance import services as governance
from governance.models import Escalation

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

HOME = "/admin/"


def home_of(client, user) -> str:
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    return response.content.decode()


def panel(body: str, panel_id: str) -> str:
    """The HTML of one home-page panel."""
    match = re.search(rf'<(section|nav)[^>]*id="{panel_id}".*?</\1>', body, re.S)
    assert match, f"no panel {panel_id}"
    return match.group(0)


def text(html: str) -> str:
    """What a reader sees: no tags, single spaces."""
    return re.sub(r" ([,.;:])", r"\1", " ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_the_admin_is_emmas(client):
    body = client.get("/admin/login/").content.decode()
    assert "<title>Log in | Emma</title>" in body and '<a href="/admin/">Emma</a>' in body
    assert "Django administration" not in body


def test_an_approvers_home_opens_on_what_waits_for_them(client, make_user, submit_escalated, committed):
    carol = make_user("carol", role="approver")
    later = submit_escalated(description="Later").escalation_id
    sooner = submit_escalated(text="quarterly").escalation_id
    Escalation.objects.filter(pk=sooner).update(deadline=timezone.now() + timedelta(seconds=90))
    submit_escalated(carol, description="Carol's own")  # four-eyes: not hers to decide
    decided = submit_escalated(description="Decided").escalation_id
    with committed():
        governance.escalation_approve(escalation_id=decided, user=carol, reason="fine")

    body = home_of(client, carol)

    waiting = panel(body, "panel-waiting")
    assert 'id="waiting-count">2<' in waiting
    first_link = re.search(r'href="([^"]+)" id="open-first"|id="open-first" href="([^"]+)"', waiting)
    assert reverse("admin:governance_escalation_change", args=[sooner]) in first_link.group(0), "nearest deadline first"
    assert "⚠ 1 due soon" in text(waiting) and "Due soon: 1 minute" in text(waiting), "urgency in words, not colour only"
    assert "alice wants to echo “quarterly”" in text(waiting)
    assert later in waiting
    assert 'id="decided-count">1<' in panel(body, "panel-decided-today")
    assert "any approver" in panel(body, "panel-groups")
    for admin_only in ("panel-budget", "panel-tasks-24h", "panel-channels", "panel-backup", "manage-links"):
        assert f'id="{admin_only}"' not in body, admin_only


def test_a_tenant_admin_reads_the_days_state(client, make_user, submit_escalated, committed, acme_policy):
    from integrations.models import OutboundMessage
    from operations.models import Backup

    ada = make_user("ada", role="admin")
    acme_policy(daily_budget=200)
    escalation_id = submit_escalated().escalation_id
    with committed():
        governance.escalation_approve(escalation_id=escalation_id, user=ada, reason="fine")
    submit_escalated(description="still open")
    tenant_id = ada.memberships.get().tenant_id
    OutboundMessage.objects.create(tenant_id=tenant_id, channel="sms", to="+15550001", text="hi", purpose="message",
                                   status="failed", error="Twilio refused: 21211 invalid number",
                                   idempotency_key="k1", next_attempt_at=timezone.now())
    OutboundMessage.objects.create(tenant_id=tenant_id, channel="slack", to="C1", text="hi", purpose="message",
                                   status="sent", idempotency_key="k2", next_attempt_at=timezone.now())
    now = timezone.now()
    Backup.objects.create(file="/b/1.dump", status="verified", started_at=now - timedelta(hours=3),
                          verified_at=now - timedelta(hours=2), size_bytes=2048)

    body = home_of(client, ada)

    tasks = text(panel(body, "panel-tasks-24h"))
    assert "Tasks, last 24 hours 2" in tasks and "queued 1" in tasks and "pending_approval 1" in tasks
    assert "Tasks per hour, last 24 hours (UTC): 2 in all" in tasks
    assert "Budget used today: 50 of 200 (25%), within the limit." in text(panel(body, "panel-budget"))
    groups = panel(body, "panel-groups")
    assert 'id="open-by-tier"' in groups and "any approver" in groups
    group_link = re.search(r'<a href="([^"]+)">any approver</a>', groups).group(1).replace("&amp;", "&")
    assert len(client.get(group_link).context["cl"].result_list) == 1
    channels = text(panel(body, "panel-channels"))
    assert "⚠ Failing: sms" in channels and "Twilio refused" in channels
    backup = text(panel(body, "panel-backup"))
    assert "Last backup: verified, 3 hours ago, 2.0 KB" in backup and "Last verified by a restore: 2 hours ago" in backup
    decisions = text(panel(body, "panel-decisions"))
    assert "Decisions per day, last 14 days: 1 in all" in decisions
    links = re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', panel(body, "manage-links"))
    assert [title for _, title in links] == ["Configuration", "Policy and suggestions", "Members", "Invitations",
                                             "API keys", "Integrations", "Audit log"]
    for url, title in links:
        assert client.get(url).status_code == 200, title


def test_a_submitter_signs_in_to_their_own_tasks(client, make_user, submit_escalated):
    alice = make_user("alice", role="submitter")
    result = submit_escalated(alice, description="Summarise the report")
    bob = make_user("bob", role="submitter")
    submit_escalated(bob, description="Bob's task")

    response = client.post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/"
    mine = text(panel(response.content.decode(), "panel-your-tasks"))
    assert "diagnostic.echo Summarise the report Pending Approval" in mine and "Bob's task" not in mine
    tasks = client.get(reverse("admin:emma_agenttask_changelist"))
    assert [t.pk for t in tasks.context["cl"].result_list] == [result.task.pk], "only her own"
    assert client.get(reverse("admin:emma_agenttask_change", args=[result.task.pk])).status_code == 200


def test_an_approvers_groups_queue_links_to_each_groups_escalations(client, make_user, submit_escalated):
    from django.contrib.auth.models import Group

    carol = make_user("carol", role="approver")
    carol.groups.add(Group.objects.create(name="finance"))
    finance = submit_escalated(description="Pay the invoice").escalation_id
    Escalation.objects.filter(pk=finance).update(approver_group="finance")
    legal = submit_escalated(description="Sign the contract").escalation_id
    Escalation.objects.filter(pk=legal).update(approver_group="legal")
    submit_escalated(description="Anyone's")

    groups = panel(home_of(client, carol), "panel-groups")

    links = dict((name, url.replace("&amp;", "&")) for url, name in re.findall(r'<a href="([^"]+)">([^<]+)</a>', groups))
    assert set(links) == {"finance", "any approver"}, "not legal's: she is not in it"
    assert [str(e.pk) for e in client.get(links["finance"]).context["cl"].result_list] == [finance]


def test_only_members_and_staff_may_sign_in(client, django_user_model):
    django_user_model.objects.create_user("drifter", password=PASSWORD)

    response = client.post("/admin/login/", {"username": "drifter", "password": PASSWORD})

    assert response.status_code == 200 and "Please enter the correct username and password" in response.content.decode()
    assert client.get(HOME).status_code == 302


def test_a_tenant_admin_reads_only_their_members(client, make_user):
    ada = make_user("ada", role="admin")
    make_user("carol", role="approver")
    make_user("eve", tenant="globex", role="admin")
    client.force_login(ada)

    members = client.get(reverse("admin:core_membership_changelist"))

    assert {m.user.username for m in members.context["cl"].result_list} == {"ada", "carol"}
    assert client.get(reverse("admin:core_membership_add")).status_code == 403
    client.force_login(make_user("carol", role="approver"))
    assert client.get(reverse("admin:core_membership_changelist")).status_code == 403


def test_the_time_to_decision_chart_shows_the_median_per_day(client, make_user, submit_escalated):
    carol = make_user("carol", role="approver")
    now = timezone.now()
    for minutes in (2, 4, 30):
        escalation_id = submit_escalated().escalation_id
        Escalation.objects.filter(pk=escalation_id).update(
            status="approved", decided_by=carol, decided_at=now, created_at=now - timedelta(minutes=minutes))
    AgentTask.objects.update(status="queued")

    decisions = text(panel(home_of(client, carol), "panel-decisions"))

    assert "Decisions per day, last 14 days: 3 in all" in decisions
    assert "Median time to decision, minutes: peak 4 min at" in decisions


def test_charts_say_what_they_show():
    chart = bar_chart([("09:00", 2), ("10:00", 5), ("11:00", 0)], title="Tasks per hour")
    assert "Tasks per hour: 7 in all, peak 5 at 10:00" in chart
    assert chart.count("<rect") == 3 and "<title>10:00: 5</title>" in chart
    assert "Tasks per hour: none" in bar_chart([("a", 0)], title="Tasks per hour")
    assert "90%), nearly used up." in meter(90, 100, label="Budget") and 'class="emma-meter high"' in meter(90, 100,
                                                                                                             label="B")
    assert "over the limit" in meter(Decimal("120"), 100, label="Budget")
    assert "no limit is set" in meter(3, None, label="Budget")
