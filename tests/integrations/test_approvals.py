"""Escalations decided from chat: approvers are told on their channels with a single-use code of their
own, `YES/NO <code>` and the Slack buttons decide through governance's services with the admin's rules,
the first decision from any channel wins, and every other approval message is updated."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from core.models import Membership
from emma import services as emma_services
from emma.models import AgentTask
from governance import services as governance_services
from governance.models import Escalation
from integrations import approvals
from integrations.models import DecisionCode, OutboundMessage
from tests.integrations.conftest import deliver_outbox, process_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def approvals_run_inline(monkeypatch):
    """The hooks hand notifying and settling to tasks on the integrations queue; here the task's body runs
    in this process, inside the test's transaction, as the worker would run it."""
    from integrations import tasks

    for task in (tasks.notify_approvers, tasks.settle_escalation):
        monkeypatch.setattr(task, "apply_async", lambda args=(), task=task, **options: task.run(*args))


@pytest.fixture
def team(acme, make_user, link):
    """Ada approves on Slack and SMS; Bob approves on SMS and WhatsApp; Sam submits; Eve of globex approves too."""
    acme.ada = acme.approver
    acme.bob = make_user(username="acme-bob", tenant="acme", role="approver")
    link(acme.ada, "slack", "U0ADA")
    link(acme.ada, "sms", "+15550100002")
    link(acme.bob, "sms", "+15550100003")
    link(acme.bob, "whatsapp", "+15550100004")
    link(acme.submitter, "sms", "+15550100001")
    eve = make_user(username="globex-eve", tenant="globex", role="approver")
    link(eve, "sms", "+15550100099")
    return acme


@pytest.fixture
def escalate(team, django_capture_on_commit_callbacks):
    """Submit a task the default policy escalates (cost over the threshold), running the on-commit hooks."""

    def submit(description="Pay the supplier invoice", submitter=None):
        with django_capture_on_commit_callbacks(execute=True):
            result = emma_services.task_submit(user=submitter or team.submitter, task_type="diagnostic.echo",
                                               description=description, parameters={"invoice": 7},
                                               estimated_cost=Decimal("50"))
        return Escalation.objects.get(pk=result.escalation_id)

    return submit


def code_of(user, escalation) -> str:
    return DecisionCode.objects.get(approver=user, escalation_id=escalation.pk).code


def requests_of(escalation):
    return OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose="approval_request").order_by("pk")


def test_approvers_are_told_on_every_channel_with_a_code_of_their_own(team, escalate, fake_vendors):
    escalation = escalate()
    sent = {(m.channel, m.to) for m in requests_of(escalation)}
    assert sent == {("slack", "U0ADA"), ("sms", "+15550100002"), ("sms", "+15550100003"),
                    ("whatsapp", "+15550100004")}  # not the requester, not another tenant's approver
    ada, bob = code_of(team.ada, escalation), code_of(team.bob, escalation)
    assert ada != bob and len(ada) == 6 and ada.isdigit()
    assert deliver_outbox() == ["sent"] * 4
    slack = fake_vendors.slack.delivered("chat.postMessage")[0]["body"]
    buttons = slack["blocks"][1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("emma_approve", ada), ("emma_reject", ada)]
    assert slack["blocks"][1]["block_id"] == f"emma:{escalation.pk}"
    sms = {r["body"]["To"]: r["body"]["Body"] for r in fake_vendors.twilio.delivered()}
    assert f"YES {bob} to approve or NO {bob} <reason>" in sms["+15550100003"]
    assert "Pay the supplier invoice" in sms["+15550100003"]


def test_sms_no_with_a_reason_rejects_and_the_other_messages_are_updated(team, escalate, webhooks, fake_vendors):
    escalation = escalate()
    deliver_outbox()
    webhooks.sms(sender="+15550100003", text=f"NO {code_of(team.bob, escalation)} too expensive")
    assert process_deliveries() == ["processed"]
    escalation.refresh_from_db()
    assert (escalation.status, escalation.decided_by, escalation.decision_channel, escalation.decision_reason) == (
        "rejected", team.bob, "sms", "too expensive")
    assert AgentTask.objects.get(pk=escalation.task_id).status == "rejected"
    reply = OutboundMessage.objects.get(purpose="reply")
    assert reply.to == "+15550100003" and reply.text.startswith("Rejected")
    deliver_outbox()
    update = fake_vendors.slack.delivered("chat.update")[0]["body"]
    assert update["channel"] == "D0ADA"  # the DM the request landed in
    assert "Rejected by acme-bob via sms: too expensive" in update["text"]
    assert all(block["type"] != "actions" for block in update["blocks"])  # the buttons are gone
    follow_ups = {r["body"]["To"] for r in fake_vendors.twilio.delivered() if "No reply needed" in r["body"]["Body"]}
    assert follow_ups == {"+15550100002"}  # Ada's SMS; not Bob's, who decided by SMS and got the reply
    assert any("No reply needed" in r["body"]["text"]["body"] for r in fake_vendors.waba.delivered())


def test_slack_approve_button_approves_through_governance(team, escalate, webhooks, fake_vendors):
    escalation = escalate()
    deliver_outbox()
    response = webhooks.slack_button(user_id="U0ADA", action_id="emma_approve", code=code_of(team.ada, escalation),
                                     escalation_id=escalation.pk)
    assert response.status_code == 200
    process_deliveries()
    escalation.refresh_from_db()
    assert (escalation.status, escalation.decided_by, escalation.decision_channel) == ("approved", team.ada, "slack")
    assert AgentTask.objects.get(pk=escalation.task_id).status == "queued"
    deliver_outbox()
    assert "Approved by acme-approver via slack" in fake_vendors.slack.delivered("chat.update")[0]["body"]["text"]


def test_first_decision_wins_and_a_later_code_says_who_decided(team, escalate, webhooks):
    escalation = escalate()
    deliver_outbox()
    webhooks.slack_button(user_id="U0ADA", action_id="emma_approve", code=code_of(team.ada, escalation),
                          escalation_id=escalation.pk)
    process_deliveries()
    webhooks.sms(sender="+15550100003", text=f"no {code_of(team.bob, escalation)} changed my mind")
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "approved" and escalation.decided_by == team.ada
    reply = OutboundMessage.objects.filter(purpose="reply", to="+15550100003").get()
    assert "Already approved by acme-approver via slack" in reply.text


def test_queued_approval_messages_are_cancelled_once_decided(team, escalate, webhooks):
    escalation = escalate()  # nothing sent yet
    webhooks.sms(sender="+15550100002", text=f"YES {code_of(team.ada, escalation)}")
    process_deliveries()
    assert set(requests_of(escalation).values_list("status", flat=True)) == {"cancelled"}
    assert not OutboundMessage.objects.filter(purpose="decision_update").exists()


def test_a_withdrawn_escalation_says_so_in_slack_and_its_codes_stop_working(team, escalate, webhooks, fake_vendors,
                                                                            committed):
    escalation = escalate()
    deliver_outbox()
    with committed():
        emma_services.task_cancel(user=team.submitter, task_id=escalation.task_id)
    escalation.refresh_from_db()
    assert escalation.status == "cancelled"
    assert not DecisionCode.objects.filter(escalation_id=escalation.pk, closed_at__isnull=True).exists()
    deliver_outbox()
    assert "Withdrawn: the task was cancelled" in fake_vendors.slack.delivered("chat.update")[0]["body"]["text"]
    webhooks.sms(sender="+15550100002", text=f"YES {code_of(team.ada, escalation)}")
    process_deliveries()
    assert AgentTask.objects.get(pk=escalation.task_id).status == "cancelled"
    reply = OutboundMessage.objects.filter(purpose="reply", to="+15550100002").get()
    assert "not valid" in reply.text


@pytest.mark.parametrize("case", ["wrong", "someone_elses", "used", "expired"])
def test_a_code_that_is_not_yours_and_open_changes_nothing(team, escalate, webhooks, case):
    escalation = escalate()
    code = code_of(team.ada, escalation)
    sender = "+15550100002"
    if case == "wrong":
        code = f"{(int(code) + 1) % 1000000:06d}"
    elif case == "someone_elses":
        sender = "+15550100003"  # Bob sends Ada's code
    elif case == "used":
        other = escalate(description="another one")
        webhooks.sms(sender=sender, text=f"YES {code_of(team.ada, other)}")
        process_deliveries()
        code = code_of(team.ada, other)
    elif case == "expired":
        DecisionCode.objects.filter(code=code).update(expires_at=timezone.now() - timedelta(seconds=1))
    webhooks.sms(sender=sender, text=f"YES {code}")
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "open"
    reply = OutboundMessage.objects.filter(purpose="reply", to=sender).order_by("-pk").first()
    assert "Nothing was changed" in reply.text


def test_no_without_a_reason_asks_for_one(team, escalate, webhooks):
    escalation = escalate()
    webhooks.sms(sender="+15550100003", text=f"NO {code_of(team.bob, escalation)}")
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "open"
    assert "Please give a reason" in OutboundMessage.objects.get(purpose="reply").text


def test_governance_rules_still_apply_to_a_code(team, escalate, webhooks):
    """Bob lost his approver role after he was told: his code no longer lets him decide."""
    escalation = escalate()
    Membership.objects.filter(user=team.bob).update(role="submitter")
    webhooks.sms(sender="+15550100003", text=f"YES {code_of(team.bob, escalation)}")
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "open"
    assert "only approvers and admins may decide" in OutboundMessage.objects.get(purpose="reply").text


def test_only_the_tier_group_is_told(team, escalate):
    finance = Group.objects.create(name="finance")
    team.bob.groups.add(finance)
    team.set_policy(ladder=[{"group": "finance", "timeout_seconds": 600}])
    escalation = escalate()
    assert {m.recipient for m in requests_of(escalation)} == {team.bob}


def test_moving_up_a_tier_retires_the_old_codes_and_tells_the_next_approvers(team, escalate, fake_vendors,
                                                                             django_capture_on_commit_callbacks):
    finance = Group.objects.create(name="finance")
    team.bob.groups.add(finance)
    team.set_policy(ladder=[{"group": "", "timeout_seconds": 60}, {"group": "finance", "timeout_seconds": 600}])
    first = escalate()
    deliver_outbox()
    old_code = code_of(team.ada, first)
    Escalation.objects.filter(pk=first.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        second = governance_services.escalation_timeout(escalation_id=first.pk)
    assert DecisionCode.objects.get(code=old_code, escalation_id=first.pk).closed_at is not None
    assert {m.recipient for m in requests_of(second)} == {team.bob}
    deliver_outbox()
    assert "Moved to the next approvers" in fake_vendors.slack.delivered("chat.update")[0]["body"]["text"]


def test_a_rejected_chat_request_is_told_to_its_requester(team, webhooks, fake_vendors,
                                                          django_capture_on_commit_callbacks):
    team.set_policy(rules={"assistant.request": "escalate"})
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.sms(sender="+15550100001", text="Book me a flight to Lisbon")
        process_deliveries()
    escalation = Escalation.objects.get()
    webhooks.sms(sender="+15550100003", text=f"NO {code_of(team.bob, escalation)} not in the budget")
    process_deliveries()
    told = OutboundMessage.objects.get(purpose="outcome")
    assert told.to == "+15550100001"
    assert "will not run" in told.text and "not in the budget" in told.text


def test_channels_not_configured_are_skipped(team, escalate, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    escalation = escalate()
    assert {m.channel for m in requests_of(escalation)} == {"slack", "whatsapp"}


def test_notify_is_idempotent(team, escalate):
    escalation = escalate()
    before = requests_of(escalation).count()
    assert approvals.escalation_notify(escalation_id=escalation.pk) == before
    assert requests_of(escalation).count() == before


def test_an_agents_tool_call_is_shown_with_its_tool_and_arguments(team):
    escalation = Escalation(step=2, tool="webhook.post", parameters={"url": "https://crm.example.com/hook"},
                            agent_reason="I will tell the CRM.", requester=team.submitter, risk="medium",
                            reasons=["supervised: the task has external side effects"],
                            deadline=timezone.now() + timedelta(minutes=15))
    text = approvals.request_text(escalation, "123456", buttons=False)
    assert "wants to call webhook.post with" in text and "crm.example.com" in text
    assert "I will tell the CRM." in text and "YES 123456" in text
