"""Delegation: an approver away hands their escalations to another approver for a period. The delegate
may decide what the delegator could, decisions record both names, it ends by itself, chains are refused."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from governance import selectors, services
from governance.models import AuditEvent, Delegation

pytestmark = pytest.mark.django_db


def later(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.fixture
def finance(acme, make_user):
    """Tiers for the finance group: Fay is in it; Dan is an approver outside it (a delegate needs Fay's seat)."""
    acme.set_policy(ladder=[{"group": "finance", "timeout_seconds": 600}])
    group = Group.objects.create(name="finance")
    acme.fay = make_user(username="acme-fay", tenant="acme", role="approver")
    acme.fay.groups.add(group)
    acme.dan = make_user(username="acme-dan", tenant="acme", role="approver")
    return acme


def escalate(team, client=None):
    result = team.submit(estimated_cost=50, client=client)
    assert result["decision"] == "escalate"
    return result["escalation_id"]


def delegate(client, to, **body):
    return client.post("/api/governance/delegations", {"delegate": to, "ends_at": later(days=7), **body},
                       format="json")


def test_a_delegate_decides_for_the_delegator_and_both_names_are_recorded(finance, client_for, committed):
    fay, dan = client_for(finance.fay), client_for(finance.dan)
    escalation_id = escalate(finance)
    refused = dan.post(f"/api/escalations/{escalation_id}/approve", {"reason": "x"}, format="json")
    assert refused.status_code == 403 and "finance" in refused.json()["error"]["message"]
    created = delegate(fay, "acme-dan", reason="holiday")
    assert created.status_code == 201, created.content
    assert created.json()["delegator"] == "acme-fay" and created.json()["active"] is True
    waiting = selectors.escalations_waiting_for(user=finance.dan, membership=finance.dan.memberships.get())
    assert [str(e.pk) for e in waiting] == [escalation_id]
    with committed():
        response = dan.post(f"/api/escalations/{escalation_id}/approve", {"reason": "covering for Fay"},
                            format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == "acme-dan" and body["decided_for"] == "acme-fay"
    assert body["votes"][0]["on_behalf_of"] == "acme-fay"
    audit = AuditEvent.objects.get(object_id=escalation_id, action="escalation.approved")
    assert audit.actor == "acme-dan" and audit.after["on_behalf_of"] == "acme-fay"
    assert AuditEvent.objects.filter(action="delegation.created", actor="acme-fay").count() == 1


def test_a_delegation_expires_by_itself_and_can_be_revoked(finance, client_for):
    fay, dan = client_for(finance.fay), client_for(finance.dan)
    escalation_id = escalate(finance)
    delegation_id = delegate(fay, "acme-dan").json()["id"]
    Delegation.objects.filter(pk=delegation_id).update(starts_at=timezone.now() - timedelta(days=2),
                                                       ends_at=timezone.now() - timedelta(seconds=1))
    expired = dan.post(f"/api/escalations/{escalation_id}/approve", {"reason": "x"}, format="json")
    assert expired.status_code == 403
    assert not selectors.escalations_waiting_for(user=finance.dan, membership=finance.dan.memberships.get()).exists()
    again = delegate(fay, "acme-dan").json()["id"]
    revoked = dan.post(f"/api/governance/delegations/{again}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert dan.post(f"/api/governance/delegations/{again}/revoke").status_code == 409
    assert dan.post(f"/api/escalations/{escalation_id}/approve", {"reason": "x"}, format="json").status_code == 403


def test_a_future_delegation_starts_later(finance, client_for):
    escalation_id = escalate(finance)
    delegate(client_for(finance.fay), "acme-dan", starts_at=later(days=1), ends_at=later(days=3))
    refused = client_for(finance.dan).post(f"/api/escalations/{escalation_id}/approve", {"reason": "x"},
                                           format="json")
    assert refused.status_code == 403


def test_chains_are_refused(finance, make_user, client_for):
    gus = make_user(username="acme-gus", tenant="acme", role="approver")
    fay, dan = client_for(finance.fay), client_for(finance.dan)
    assert delegate(fay, "acme-dan").status_code == 201
    # Dan stands in for Fay: he may not pass it on; nor may anyone delegate to Fay, who is away.
    chained = delegate(dan, "acme-gus")
    assert chained.status_code == 409 and "chains are refused" in chained.json()["error"]["message"]
    to_away = delegate(client_for(gus), "acme-fay")
    assert to_away.status_code == 409 and "away" in to_away.json()["error"]["message"]
    twice = delegate(fay, "acme-gus")
    assert twice.status_code == 409 and "already" in twice.json()["error"]["message"]
    # After Dan's period, he may delegate his own approvals.
    assert delegate(dan, "acme-gus", starts_at=later(days=8), ends_at=later(days=9)).status_code == 201


def test_bad_delegations_are_refused_clearly(acme, globex, client_for):
    approver = acme.approver_api
    assert delegate(approver, "acme-approver").status_code == 400  # oneself
    assert delegate(approver, "acme-submitter").status_code == 400  # not an approver
    outsider = delegate(approver, "globex-approver")
    assert outsider.status_code == 400 and "No one named" in outsider.json()["error"]["details"]["delegate"][0]
    past = delegate(approver, "acme-admin", ends_at=later(days=-1))
    assert past.status_code == 400 and "ends_at" in past.json()["error"]["details"]
    too_long = delegate(approver, "acme-admin", ends_at=later(days=400))
    assert too_long.status_code == 400
    for_someone_else = delegate(approver, "acme-admin", delegator="acme-admin")
    assert for_someone_else.status_code == 403
    assert acme.submitter_api.post("/api/governance/delegations", {"delegate": "acme-admin",
                                                                   "ends_at": later(days=1)}).status_code == 403
    assert Delegation.objects.count() == 0


def test_an_admin_delegates_for_an_approver_and_sees_every_delegation(finance, client_for):
    made = delegate(finance.admin_api, "acme-dan", delegator="acme-fay")
    assert made.status_code == 201 and made.json()["created_by"] == "acme-admin"
    assert finance.admin_api.get("/api/governance/delegations").json()["count"] == 1
    assert finance.approver_api.get("/api/governance/delegations").json()["count"] == 0  # neither side of it
    assert client_for(finance.dan).get("/api/governance/delegations").json()["count"] == 1


def test_a_delegate_never_decides_on_the_delegators_own_task(finance, client_for):
    """Four-eyes: Fay's own task cannot be approved by her delegate in her name."""
    escalation_id = escalate(finance, client=client_for(finance.fay))
    delegate(client_for(finance.fay), "acme-dan")
    refused = client_for(finance.dan).post(f"/api/escalations/{escalation_id}/approve", {"reason": "x"},
                                           format="json")
    assert refused.status_code == 403


def test_a_delegate_and_the_delegator_are_one_seat_in_a_quorum(finance, make_user):
    """Dan answers for Fay: Fay cannot answer again, so two approvals are still two of the group's people."""
    finance.set_policy(ladder=[{"group": "finance", "timeout_seconds": 600, "quorum": 2}])
    gus = make_user(username="acme-gus", tenant="acme", role="approver")
    gus.groups.add(Group.objects.get(name="finance"))
    services.delegation_create(membership=finance.fay.memberships.get(), delegator=finance.fay, delegate=finance.dan,
                               ends_at=timezone.now() + timedelta(days=1))
    escalation_id = escalate(finance)
    vote = services.escalation_approve(escalation_id=escalation_id, user=finance.dan, reason="for Fay")
    assert vote.status == "open" and vote.quorum_text == "1 of 2 approvals"
    with pytest.raises(Exception, match="acme-dan for acme-fay approved this tier already"):
        services.escalation_approve(escalation_id=escalation_id, user=finance.fay, reason="me too")
    decided = services.escalation_approve(escalation_id=escalation_id, user=gus, reason="two")
    assert decided.status == "approved" and decided.decided_by == gus
