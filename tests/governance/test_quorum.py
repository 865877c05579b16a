"""Quorum approvals: a tier may need M approvals from different people; one rejection rejects (or
`reject_quorum` of them); each answer is audited; the answer that completes the quorum wins, racing
answers included; four-eyes applies to every approver."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from governance import services
from governance.audit import verify_chain
from governance.models import AuditEvent, Escalation, EscalationVote
from governance.policy import TaskFacts
from governance.selectors import policy_current
from tests.conftest import run_concurrently, task_status

pytestmark = pytest.mark.django_db

TWO = [{"group": "", "timeout_seconds": 600, "quorum": 2}]


def escalate(team, **body):
    result = team.submit(estimated_cost=50, **body)
    assert result["decision"] == "escalate"
    return result


def approve(client, escalation_id, reason="fine", **extra):
    return client.post(f"/api/escalations/{escalation_id}/approve", {"reason": reason, **extra}, format="json")


def reject(client, escalation_id, reason="no", **extra):
    return client.post(f"/api/escalations/{escalation_id}/reject", {"reason": reason, **extra}, format="json")


def test_two_approvals_from_different_people_run_the_task(acme, committed):
    acme.set_policy(ladder=TWO)
    body = escalate(acme)
    escalation_id = body["escalation_id"]
    with committed():
        first = approve(acme.approver_api, escalation_id, "first look")
    assert first.status_code == 200
    shown = first.json()
    assert shown["status"] == "open" and shown["quorum"] == 2 and shown["approvals"] == 1
    assert shown["quorum_text"] == "1 of 2 approvals"
    assert [(v["voter"], v["outcome"]) for v in shown["votes"]] == [("acme-approver", "approved")]
    assert task_status(body["task_id"]) == "pending_approval"
    # The same person cannot be the second approval.
    again = approve(acme.approver_api, escalation_id, "me again")
    assert again.status_code == 409 and "acme-approver approved this tier already" in again.json()["error"]["message"]
    # The approver who answered no longer sees it waiting; the admin still does.
    assert acme.approver_api.get("/api/escalations/active").json()["results"][0]["quorum_text"] == "1 of 2 approvals"
    with committed():
        second = approve(acme.admin_api, escalation_id, "second look")
    assert second.json()["status"] == "approved" and second.json()["quorum_text"] == "2 of 2 approvals"
    assert second.json()["decided_by"] == "acme-admin"
    assert task_status(body["task_id"]) == "queued"
    actions = list(AuditEvent.objects.filter(object_id=escalation_id).order_by("seq").values_list("action", "actor"))
    assert actions == [("escalation.opened", "acme-submitter"), ("escalation.vote", "acme-approver"),
                       ("escalation.approved", "acme-admin")]
    vote = AuditEvent.objects.get(object_id=escalation_id, action="escalation.vote")
    assert vote.after["approvals"] == 1 and vote.after["quorum"] == 2 and vote.after["reason"] == "first look"
    assert verify_chain(acme.tenant_id)[0]


def test_one_rejection_before_quorum_rejects(acme, committed):
    acme.set_policy(ladder=TWO)
    body = escalate(acme)
    with committed():
        approve(acme.approver_api, body["escalation_id"])
        response = reject(acme.admin_api, body["escalation_id"], "not this week")
    assert response.json()["status"] == "rejected" and response.json()["approvals"] == 1
    assert task_status(body["task_id"]) == "rejected"
    late = approve(acme.admin_api, body["escalation_id"])
    assert late.status_code == 409


def test_reject_quorum_needs_that_many_rejections(acme, make_user, committed):
    acme.set_policy(ladder=[{"group": "", "timeout_seconds": 600, "quorum": 2, "reject_quorum": 2}])
    third = make_user(username="acme-third", tenant="acme", role="approver")
    body = escalate(acme)
    with committed():
        first = reject(acme.approver_api, body["escalation_id"], "hm")
    assert first.json()["status"] == "open" and first.json()["quorum_text"] == "0 of 2 approvals, 1 of 2 rejections"
    assert task_status(body["task_id"]) == "pending_approval"
    with committed():
        approve(acme.admin_api, body["escalation_id"])
        services.escalation_reject(escalation_id=body["escalation_id"], user=third, reason="agree, no")
    assert Escalation.objects.get(pk=body["escalation_id"]).status == "rejected"
    assert task_status(body["task_id"]) == "rejected"


def test_four_eyes_applies_to_every_approver(acme):
    acme.set_policy(ladder=TWO)
    body = escalate(acme, client=acme.approver_api)  # the approver asks: only the admin may answer
    own = approve(acme.approver_api, body["escalation_id"])
    assert own.status_code == 403 and "four-eyes" in own.json()["error"]["message"]
    assert approve(acme.admin_api, body["escalation_id"]).json()["quorum_text"] == "1 of 2 approvals"
    assert EscalationVote.objects.filter(escalation_id=body["escalation_id"]).count() == 1


def test_the_quorum_counts_only_the_tiers_group(acme, make_user):
    acme.set_policy(ladder=[{"group": "finance", "timeout_seconds": 600, "quorum": 2}])
    finance = Group.objects.create(name="finance")
    outsider = make_user(username="acme-outsider", tenant="acme", role="approver")
    insider = make_user(username="acme-insider", tenant="acme", role="approver")
    insider.groups.add(finance)
    body = escalate(acme)
    with pytest.raises(Exception, match="finance"):
        services.escalation_approve(escalation_id=body["escalation_id"], user=outsider, reason="x")
    services.escalation_approve(escalation_id=body["escalation_id"], user=insider, reason="x")
    assert Escalation.objects.get(pk=body["escalation_id"]).approvals == 1


@pytest.mark.django_db(transaction=True)
def test_racing_answers_complete_the_quorum_exactly_once(acme, make_user):
    acme.set_policy(ladder=[{"group": "", "timeout_seconds": 600, "quorum": 3}])
    approvers = [make_user(username=f"quorum-{n}", tenant="acme", role="approver") for n in range(8)]
    body = escalate(acme)

    def answer(n):
        try:
            decided = services.escalation_approve(escalation_id=body["escalation_id"], user=approvers[n],
                                                  reason=f"approver {n}")
            return "closed" if decided.status == "approved" else "vote"
        except Exception as exc:  # noqa: BLE001 - the refusals are what we count
            return type(exc).__name__

    outcomes = run_concurrently(answer, range(len(approvers)))
    assert outcomes.count("closed") == 1 and outcomes.count("vote") == 2 and outcomes.count("Conflict") == 5
    escalation = Escalation.objects.get(pk=body["escalation_id"])
    assert escalation.approvals == 3 and EscalationVote.objects.filter(escalation=escalation).count() == 3
    assert AuditEvent.objects.filter(object_id=body["escalation_id"], action="escalation.approved").count() == 1
    assert AuditEvent.objects.filter(object_id=body["escalation_id"], action="escalation.vote").count() == 2
    assert task_status(body["task_id"]) in ("queued", "running", "succeeded")  # committed: a worker may run it


@pytest.mark.django_db(transaction=True)
def test_racing_approval_and_rejection_one_wins(acme, make_user):
    """The second approval and a rejection race: whichever takes the lock first decides; the other is a 409."""
    acme.set_policy(ladder=TWO)
    body = escalate(acme)
    services.escalation_approve(escalation_id=body["escalation_id"], user=acme.approver, reason="one")
    others = [acme.admin, make_user(username="acme-late", tenant="acme", role="approver")]

    def answer(n):
        decide = services.escalation_approve if n == 0 else services.escalation_reject
        try:
            return decide(escalation_id=body["escalation_id"], user=others[n], reason="race").status
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__

    outcomes = sorted(run_concurrently(answer, [0, 1]))
    assert outcomes in (["Conflict", "approved"], ["Conflict", "rejected"])
    assert Escalation.objects.get(pk=body["escalation_id"]).status in ("approved", "rejected")


def test_later_approvals_approve_the_first_ones_arguments(acme):
    """A tool call under quorum: the first approver's edit is what the others approve; a different edit is refused."""
    acme.set_policy(ladder=TWO)
    policy, version = policy_current(tenant_id=acme.tenant_id)
    escalation = services.escalation_open(
        tenant_id=acme.tenant_id, task_id=uuid.uuid4(), requester=acme.submitter, summary="send it",
        facts=TaskFacts(task_type="tool:send_email", risk="high", external_side_effects=True,
                        estimated_cost=Decimal("0.01")),
        parameters={"to": "a@example.com"}, reasons=["high"], policy=policy, policy_version=version, step=3,
        tool="send_email", arguments_schema={"type": "object", "properties": {"to": {"type": "string"}}})
    first = approve(acme.approver_api, escalation.pk, arguments={"to": "b@example.com"})
    assert first.json()["status"] == "open"
    other = approve(acme.admin_api, escalation.pk, arguments={"to": "c@example.com"})
    assert other.status_code == 409 and "edited arguments" in other.json()["error"]["message"]
    done = approve(acme.admin_api, escalation.pk)
    assert done.json()["status"] == "approved" and done.json()["decision_arguments"] == {"to": "b@example.com"}


def test_quorum_bounds_are_validated(acme):
    bad = acme.admin_api.put("/api/governance/policy", {"ladder": [{"timeout_seconds": 60, "quorum": 0}]},
                             format="json")
    assert bad.status_code == 400
    bad = acme.admin_api.put("/api/governance/policy", {"ladder": [{"timeout_seconds": 60, "quorum": 11}]},
                             format="json")
    assert bad.status_code == 400


def test_a_timeout_opens_the_next_tier_with_its_own_quorum(acme):
    acme.set_policy(ladder=[{"group": "", "timeout_seconds": 60, "quorum": 2},
                            {"group": "", "timeout_seconds": 60}])
    body = escalate(acme)
    approve(acme.approver_api, body["escalation_id"])
    Escalation.objects.filter(pk=body["escalation_id"]).update(deadline=timezone.now() - timedelta(seconds=1))
    successor = services.escalation_timeout(escalation_id=body["escalation_id"])
    assert successor.tier == 1 and successor.quorum == 1 and successor.approvals == 0
    # The approver who voted on tier 0 answers tier 1 afresh: one approval decides it.
    assert approve(acme.approver_api, successor.pk).json()["status"] == "approved"
