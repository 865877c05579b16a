"""Escalations: who may decide, the first decision wins, ladders and timeouts fire once."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from emma import services as emma_services
from emma.models import AgentTask
from governance import services
from governance.audit import verify_chain
from governance.models import AuditEvent, Escalation
from tests.conftest import run_concurrently, task_status, wait_for, wait_for_status

pytestmark = pytest.mark.django_db


def escalate(team, **body):
    result = team.submit(estimated_cost=50, **body)
    assert result["decision"] == "escalate"
    return result


def make_due(escalation_id):
    Escalation.objects.filter(pk=escalation_id).update(deadline=timezone.now() - timedelta(seconds=1))


def test_escalation_is_listed_for_approvers_only(acme, globex):
    body = escalate(acme)
    active = acme.approver_api.get("/api/escalations/active").json()
    assert [e["id"] for e in active["results"]] == [body["escalation_id"]]
    assert active["results"][0]["reasons"]
    assert active["results"][0]["what"] == "acme-submitter wants to echo its parameters back"
    assert active["results"][0]["channel"] == "api"
    assert acme.submitter_api.get("/api/escalations/active").status_code == 403
    assert globex.approver_api.get("/api/escalations/active").json()["count"] == 0
    assert globex.approver_api.get(f"/api/escalations/{body['escalation_id']}").status_code == 404


def test_approve_queues_the_task_and_reject_rejects_it(acme, committed):
    approved, rejected = escalate(acme), escalate(acme)
    with committed():
        response = acme.approver_api.post(f"/api/escalations/{approved['escalation_id']}/approve",
                                          {"reason": "looks fine"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["decided_by"] == "acme-approver"
    assert task_status(approved["task_id"]) == "queued"
    with committed():
        response = acme.approver_api.post(f"/api/escalations/{rejected['escalation_id']}/reject",
                                          {"reason": "too expensive"}, format="json")
    assert response.json()["status"] == "rejected"
    assert task_status(rejected["task_id"]) == "rejected"


def test_a_reason_is_required(acme):
    body = escalate(acme)
    for payload in ({}, {"reason": ""}, {"reason": "   "}):
        response = acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", payload,
                                          format="json")
        assert response.status_code == 400 and "reason" in response.json()["error"]["details"]
    assert Escalation.objects.get(pk=body["escalation_id"]).status == "open"


def test_second_decision_on_same_escalation_is_refused(acme, committed):
    body = escalate(acme)
    url = f"/api/escalations/{body['escalation_id']}"
    with committed():
        assert acme.approver_api.post(f"{url}/approve", {"reason": "ok"}, format="json").status_code == 200
    second = acme.admin_api.post(f"{url}/reject", {"reason": "no"}, format="json")
    assert second.status_code == 409 and "already approved" in second.json()["error"]["message"]
    assert task_status(body["task_id"]) == "queued"


@pytest.mark.django_db(transaction=True)
def test_racing_decisions_have_exactly_one_winner(acme, make_user):
    body = escalate(acme)
    approvers = [make_user(username=f"racer-{n}", tenant="acme", role="approver") for n in range(6)]

    def decide(n):
        try:
            decide_fn = services.escalation_approve if n % 2 else services.escalation_reject
            decide_fn(escalation_id=body["escalation_id"], user=approvers[n], reason=f"racer {n}")
            return "won"
        except Exception as exc:  # noqa: BLE001 - the losers' refusals are what we count
            return type(exc).__name__

    outcomes = run_concurrently(decide, range(len(approvers)))
    assert outcomes.count("won") == 1 and outcomes.count("Conflict") == 5
    assert AuditEvent.objects.filter(action__in=["escalation.approved", "escalation.rejected"]).count() == 1


def test_submitters_may_not_decide(acme):
    body = escalate(acme, client=acme.approver_api)
    response = acme.submitter_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "mine"},
                                       format="json")
    assert response.status_code == 403


def test_four_eyes_requester_may_not_approve_their_own_task(acme):
    body = escalate(acme, client=acme.approver_api)
    response = acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "mine"},
                                      format="json")
    assert response.status_code == 403 and "four-eyes" in response.json()["error"]["message"]


def test_policy_may_allow_self_approval(acme):
    acme.set_policy(allow_self_approval=True)
    body = escalate(acme, client=acme.approver_api)
    response = acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "mine"},
                                      format="json")
    assert response.status_code == 200


def test_only_the_tiers_group_may_decide(acme, make_user, client_for):
    acme.set_policy(ladder=[{"group": "finance", "timeout_seconds": 600}])
    body = escalate(acme)
    url = f"/api/escalations/{body['escalation_id']}/approve"
    refused = acme.approver_api.post(url, {"reason": "ok"}, format="json")
    assert refused.status_code == 403 and "finance" in refused.json()["error"]["message"]
    controller = make_user(username="controller", tenant="acme", role="approver")
    controller.groups.add(Group.objects.create(name="finance"))
    assert client_for(controller).post(url, {"reason": "ok"}, format="json").status_code == 200


def test_approvers_of_another_tenant_cannot_decide(acme, globex):
    body = escalate(acme)
    response = globex.admin_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "x"},
                                     format="json")
    assert response.status_code == 404
    assert Escalation.objects.get(pk=body["escalation_id"]).status == "open"


def test_timeout_moves_up_the_ladder_then_applies_the_final_outcome(acme, committed):
    acme.set_policy(ladder=[{"group": "", "timeout_seconds": 60}, {"group": "managers", "timeout_seconds": 120}])
    body = escalate(acme)
    make_due(body["escalation_id"])
    assert services.escalations_expire_due() == 1
    first = Escalation.objects.get(pk=body["escalation_id"])
    assert first.status == "escalated"
    second = Escalation.objects.get(previous=first)
    assert second.tier == 1 and second.approver_group == "managers" and second.status == "open"
    assert second.deadline > timezone.now() + timedelta(seconds=100)
    assert acme.submitter_api.get(f"/api/tasks/{body['task_id']}").json()["escalation_id"] == str(second.pk)
    make_due(second.pk)
    with committed():
        assert services.escalations_expire_due() == 1
    second.refresh_from_db()
    assert second.status == "expired"
    assert task_status(body["task_id"]) == "expired"
    assert services.escalations_expire_due() == 0


def test_final_outcome_may_be_approve(acme, committed):
    acme.set_policy(final_outcome="approve")
    body = escalate(acme)
    make_due(body["escalation_id"])
    with committed():
        services.escalations_expire_due()
    assert task_status(body["task_id"]) == "queued"


@pytest.mark.parametrize("decision, status", [("approve", "queued"), ("reject", "rejected")])
def test_a_decision_whose_hook_was_lost_is_applied_by_the_sweep(acme, decision, status):
    """The process that committed a decision died before its after-commit hook moved the task."""
    body = escalate(acme)
    response = acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/{decision}", {"reason": "ok"},
                                      format="json")  # no commit in a test: the hook never runs
    assert response.status_code == 200 and task_status(body["task_id"]) == "pending_approval"
    assert emma_services.tasks_settle_closed_escalations() == 0, "a fresh decision is left to its hook"
    Escalation.objects.filter(pk=body["escalation_id"]).update(decided_at=timezone.now() - timedelta(minutes=1))
    assert emma_services.tasks_settle_closed_escalations() == 1
    assert task_status(body["task_id"]) == status
    assert emma_services.tasks_settle_closed_escalations() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_time_out_an_escalation_once(acme):
    body = escalate(acme)
    make_due(body["escalation_id"])
    counts = run_concurrently(lambda _: services.escalations_expire_due(), range(4))
    assert sum(counts) == 1
    assert AuditEvent.objects.filter(action="escalation.expired").count() == 1


@pytest.mark.django_db(transaction=True)
def test_deadline_passed_while_no_worker_ran_expires_once_when_one_starts(acme, celery_worker_process):
    """The deadline lives in PostgreSQL: sweeps queued while no worker ran all run once one is up."""
    from governance.tasks import expire_escalations

    body = escalate(acme)
    make_due(body["escalation_id"])
    for _ in range(3):  # two beats and a late one, say
        expire_escalations.apply_async(expires=30)
    wait_for_status(body["task_id"], "expired")
    wait_for(lambda: "governance.expire_escalations" in celery_worker_process.logs(), message="the sweep ran")
    assert AuditEvent.objects.filter(action="escalation.expired", object_id=body["escalation_id"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_approved_task_runs_to_success(acme, celery_worker_process):
    body = escalate(acme, parameters={"ok": True})
    acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "ok"}, format="json")
    wait_for_status(body["task_id"], "succeeded")
    assert AgentTask.objects.get(pk=body["task_id"]).result == {"ok": True}
    assert verify_chain()[1] is None


def test_a_decision_after_the_deadline_is_refused(acme):
    body = escalate(acme)
    make_due(body["escalation_id"])
    response = acme.approver_api.post(f"/api/escalations/{body['escalation_id']}/approve", {"reason": "late"},
                                      format="json")
    assert response.status_code == 409 and "deadline" in response.json()["error"]["message"]
    assert task_status(body["task_id"]) == "pending_approval"


def test_a_person_in_several_tenants_decides_in_the_tenant_they_act_in(acme, globex, make_user):
    """The decider's membership is the request's (its token's tenant), or, from chat, the escalation's
    tenant's: never whichever of their memberships comes first."""
    from rest_framework.test import APIClient

    from tests.conftest import refresh_for

    make_user(username="ada", tenant="acme", role="submitter")
    ada = make_user(username="ada", tenant="globex", role="approver")
    escalation_id = escalate(globex)["escalation_id"]

    def as_ada(tenant):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh_for(ada, tenant).access_token}")
        return client

    # Acting in acme, where globex's escalation does not exist.
    assert as_ada("acme").post(f"/api/escalations/{escalation_id}/approve", {"reason": "ok"},
                               format="json").status_code == 404
    answer = as_ada("globex").post(f"/api/escalations/{escalation_id}/approve", {"reason": "ok"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert Escalation.objects.get(pk=escalation_id).decided_by == ada


def test_from_chat_a_person_in_several_tenants_decides_as_a_member_of_the_escalations_tenant(
        acme, globex, make_user):
    make_user(username="ada", tenant="acme", role="submitter")
    ada = make_user(username="ada", tenant="globex", role="approver")
    escalation_id = escalate(globex)["escalation_id"]
    decided = services.escalation_approve(escalation_id=escalation_id, user=ada, reason="ok", channel="slack")
    assert decided.status == Escalation.Status.APPROVED
