"""Quorum, delegation and reminders over chat: "1 of 2 approvals" in the replies and on the Slack requests,
a delegate is asked instead of an approver who is away, and before a tier's deadline each approver who has not
answered gets exactly one reminder on one of their channels."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import TestCase
from django.utils import timezone

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
    """The hooks hand the chat work to tasks on the integrations queue; here their bodies run in this process."""
    from integrations import tasks

    for task in (tasks.notify_approvers, tasks.settle_escalation, tasks.show_escalation_progress,
                 tasks.remind_approvers):
        monkeypatch.setattr(task, "apply_async", lambda args=(), task=task, **options: task.run(*args))


@pytest.fixture
def team(acme, make_user, link):
    """Ada approves on Slack and SMS, Bob on SMS, Cy on WhatsApp; Sam submits."""
    acme.ada = acme.approver
    acme.bob = make_user(username="acme-bob", tenant="acme", role="approver")
    acme.cy = make_user(username="acme-cy", tenant="acme", role="approver")
    link(acme.ada, "slack", "U0ADA")
    link(acme.ada, "sms", "+15550100002")
    link(acme.bob, "sms", "+15550100003")
    link(acme.cy, "whatsapp", "+15550100004")
    return acme


@pytest.fixture
def escalate(team, django_capture_on_commit_callbacks):
    def submit(**policy):
        if policy:
            team.set_policy(**policy)
        with django_capture_on_commit_callbacks(execute=True):
            result = emma_services.task_submit(user=team.submitter, task_type="diagnostic.echo",
                                               description="Pay the supplier invoice", parameters={"invoice": 7},
                                               estimated_cost=Decimal("50"))
        return Escalation.objects.get(pk=result.escalation_id)

    return submit


def code_of(user, escalation) -> str:
    return DecisionCode.objects.get(approver=user, escalation_id=escalation.pk).code


TWO = {"ladder": [{"group": "", "timeout_seconds": 600, "quorum": 2}], "reminder_fraction": None}


def test_chat_shows_a_quorums_progress(team, escalate, webhooks, fake_vendors):
    escalation = escalate(**TWO)
    deliver_outbox()
    sms = {r["body"]["To"]: r["body"]["Body"] for r in fake_vendors.twilio.delivered()}
    assert "It needs 2 approvals (0 so far)." in sms["+15550100003"]
    webhooks.sms(sender="+15550100003", text=f"YES {code_of(team.bob, escalation)}")
    assert process_deliveries() == ["processed"]
    escalation.refresh_from_db()
    assert escalation.status == "open" and escalation.approvals == 1
    reply = OutboundMessage.objects.get(purpose="reply", to="+15550100003")
    assert "recorded: 1 of 2 approvals" in reply.text
    assert AgentTask.objects.get(pk=escalation.task_id).status == "pending_approval"
    deliver_outbox()
    update = fake_vendors.slack.delivered("chat.update")[0]["body"]
    assert "1 of 2 approvals: acme-bob approved" in update["text"]
    assert any(block["type"] == "actions" for block in update["blocks"])  # Ada may still answer
    # Bob's code is spent; Ada's button completes the quorum.
    webhooks.sms(sender="+15550100003", text=f"YES {code_of(team.bob, escalation)}")
    process_deliveries()
    assert "answered already" in OutboundMessage.objects.filter(purpose="reply", to="+15550100003")\
        .order_by("-pk").first().text
    webhooks.slack_button(user_id="U0ADA", action_id="emma_approve", code=code_of(team.ada, escalation),
                          escalation_id=escalation.pk)
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "approved" and escalation.decided_by == team.ada
    assert AgentTask.objects.get(pk=escalation.task_id).status == "queued"
    deliver_outbox()
    final = fake_vendors.slack.delivered("chat.update")[-1]["body"]
    assert "Approved by acme-approver via slack (2 of 2 approvals)" in final["text"]


def test_a_delegate_is_asked_instead_of_the_approver_who_is_away(team, escalate, fake_vendors):
    governance_services.delegation_create(membership=team.bob.memberships.get(), delegator=team.bob,
                                          delegate=team.cy, ends_at=timezone.now() + timedelta(days=3))
    escalation = escalate()
    asked = set(OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose="approval_request")
                .values_list("to", flat=True))
    assert "+15550100003" not in asked and "+15550100004" in asked  # not Bob (away); Cy, his delegate
    # Cy is an approver in her own right here: she decides for herself (no "for Bob").
    text = OutboundMessage.objects.get(escalation_id=escalation.pk, to="+15550100004").text
    assert "Emma needs your approval" in text


def test_each_approver_who_has_not_answered_gets_one_reminder(team, escalate, webhooks, fake_vendors):
    escalation = escalate(ladder=[{"group": "", "timeout_seconds": 600, "quorum": 2}], reminder_fraction=0.5)
    assert escalation.remind_at is not None
    deliver_outbox()
    webhooks.sms(sender="+15550100003", text=f"YES {code_of(team.bob, escalation)}")  # Bob answered
    process_deliveries()
    assert governance_services.escalations_remind_due() == 0  # not yet: at half the tier's time
    Escalation.objects.filter(pk=escalation.pk).update(remind_at=timezone.now() - timedelta(seconds=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert governance_services.escalations_remind_due() == 1
        assert governance_services.escalations_remind_due() == 0  # once per tier
    reminders = OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose="approval_reminder")
    # Ada once (on one of her two channels), Cy once, not Bob (who answered).
    assert sorted(reminders.values_list("recipient_id", flat=True)) == sorted([team.ada.pk, team.cy.pk])
    assert all(m.text.startswith("Reminder, ") for m in reminders)
    # Running the task again (a redelivered message) queues nothing new.
    approvals.escalation_remind(escalation_id=escalation.pk)
    assert reminders.count() == 2
    deliver_outbox()
    # A reminder's code decides like the request's.
    webhooks.sms(sender="+15550100002", text=f"YES {code_of(team.ada, escalation)}")
    process_deliveries()
    escalation.refresh_from_db()
    assert escalation.status == "approved"


def test_no_reminder_when_the_policy_sets_none(team, escalate):
    escalation = escalate(reminder_fraction=None)
    assert escalation.remind_at is None


def test_escalations_waiting_when_a_delegation_starts_reach_the_delegate(team, escalate,
                                                                          django_capture_on_commit_callbacks):
    """A finance tier: Bob may decide, Cy may not. Bob goes away: Cy is asked, for Bob, at once."""
    finance = Group.objects.create(name="finance")
    team.bob.groups.add(finance)
    escalation = escalate(ladder=[{"group": "finance", "timeout_seconds": 600}], reminder_fraction=None)
    asked = OutboundMessage.objects.filter(escalation_id=escalation.pk, purpose="approval_request")
    assert set(asked.values_list("recipient_id", flat=True)) == {team.bob.pk}  # the admin has no chat
    with django_capture_on_commit_callbacks(execute=True):
        governance_services.delegation_create(membership=team.bob.memberships.get(), delegator=team.bob,
                                              delegate=team.cy, ends_at=timezone.now() + timedelta(days=3))
    to_cy = asked.get(recipient_id=team.cy.pk)
    assert "You decide for acme-bob, who delegated to you." in to_cy.text
    assert asked.filter(recipient_id=team.bob.pk).count() == 1  # Bob is not told twice
