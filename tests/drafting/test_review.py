"""Reviews: submitting a draft opens a governance escalation to the tenant's reviewers (the ladder, the
channels, the four-eyes rule, the audit chain of tasks), and its decision, from any channel, moves the draft."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from drafting import reviews
from drafting.models import Draft, Review
from governance import hooks, services as governance
from governance.models import AuditEvent, Escalation
from integrations.models import DecisionCode
from tests.drafting.conftest import create, save
from tests.integrations import conftest as integrations_fixtures
from tests.integrations.conftest import deliver_outbox, process_deliveries

# The fixtures of the fake Slack: its settings, its server, linked identities and signed requests.
fake_vendors, link, webhooks = (integrations_fixtures.fake_vendors, integrations_fixtures.link,
                                integrations_fixtures.webhooks)
integration_settings = integrations_fixtures.integration_settings
clean_shared_state = integrations_fixtures._clean_shared_state

pytestmark = pytest.mark.django_db


def submit(client, draft_id, note="Ready for review"):
    response = client.post(f"/api/drafts/{draft_id}/review", {"note": note}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def transition(client, draft_id, action, note=""):
    return client.post(f"/api/drafts/{draft_id}/transition", {"action": action, "note": note}, format="json")


def status_of(draft_id) -> str:
    return Draft.objects.get(pk=draft_id).status


def test_submitting_opens_an_escalation_for_the_reviewers(acme, draft):
    review = submit(acme.submitter_api, draft["id"])

    assert status_of(draft["id"]) == "in_review" and review["status"] == "open" and review["revision"] == 1
    active = acme.approver_api.get("/api/escalations/active").json()["results"]
    assert [item["id"] for item in active] == [review["escalation_id"]]
    escalation = active[0]
    assert escalation["task_id"] == review["id"] and escalation["task_type"] == "drafting.review"
    assert escalation["requester"] == acme.submitter.username
    assert escalation["parameters"]["title"] == "Launch note" and escalation["parameters"]["revision"] == 1
    assert escalation["parameters"]["preview"].startswith("Intro line")
    assert "Launch note" in escalation["what"] and "revision 1" in escalation["summary"]
    assert AuditEvent.objects.filter(action="escalation.opened", object_id=review["escalation_id"]).exists()
    # The transition's `submit` is the same: a second one is refused while the first is open.
    assert transition(acme.submitter_api, draft["id"], "submit").status_code == 409
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}/reviews").json()[0]["id"] == review["id"]


def test_submit_through_the_transition_opens_the_review_too(acme, draft):
    assert transition(acme.submitter_api, draft["id"], "submit").json()["status"] == "in_review"
    review = Review.objects.get(draft_id=draft["id"])
    assert Escalation.objects.get(task_id=review.pk).status == "open"


def test_approval_through_the_escalations_api_approves_the_draft(acme, draft, committed):
    review = submit(acme.submitter_api, draft["id"])
    with committed():
        response = acme.approver_api.post(f"/api/escalations/{review['escalation_id']}/approve",
                                          {"reason": "Clear and short"}, format="json")
    assert response.status_code == 200
    body = acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()
    assert body["status"] == "approved" and body["status_note"] == "Clear and short" and body["approved_at"]
    decided = acme.submitter_api.get(f"/api/drafts/{draft['id']}/reviews").json()[0]
    assert (decided["status"], decided["decided_by"], decided["note"]) == ("approved", "acme-approver",
                                                                            "Clear and short")


def test_rejection_sends_the_draft_back_with_the_reason(acme, draft, committed):
    review = submit(acme.submitter_api, draft["id"])
    with committed():
        acme.approver_api.post(f"/api/escalations/{review['escalation_id']}/reject",
                               {"reason": "Shorter intro, please"}, format="json")
    body = acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()
    assert body["status"] == "draft" and body["status_note"] == "Shorter intro, please"
    assert Review.objects.get(pk=review["id"]).status == "changes_requested"
    # Editable again, and a new submission is a new review of the new revision.
    assert save(acme.submitter_api, draft["id"], "Intro\n", '"1.1"').status_code == 201
    assert submit(acme.submitter_api, draft["id"])["revision"] == 2


def test_the_owner_cannot_approve_their_own_draft(acme, make_user, client_for, committed):
    owner_api = acme.approver_api  # an approver who writes a draft is its owner, not its reviewer
    draft = create(owner_api, content="Mine\n")
    review = submit(owner_api, draft["id"])
    refused = owner_api.post(f"/api/escalations/{review['escalation_id']}/approve", {"reason": "mine"}, format="json")
    assert refused.status_code == 403 and "four-eyes" in refused.json()["error"]["message"]
    assert transition(owner_api, draft["id"], "approve").status_code == 403
    assert status_of(draft["id"]) == "in_review"
    with committed():
        assert transition(acme.admin_api, draft["id"], "approve", "Fine").json()["status"] == "approved"


def test_the_direct_approve_is_a_decision_on_the_escalation(acme, draft, committed):
    review = submit(acme.submitter_api, draft["id"])
    with committed():
        approved = transition(acme.approver_api, draft["id"], "approve", "Good to go")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    escalation = Escalation.objects.get(pk=review["escalation_id"])
    assert (escalation.status, escalation.decided_by, escalation.decision_reason, escalation.decision_channel) == (
        "approved", acme.approver, "Good to go", "api")
    assert AuditEvent.objects.filter(action="escalation.approved", object_id=str(escalation.pk)).count() == 1
    # Decided: the escalation's own endpoint refuses a second decision, as for a task.
    second = acme.admin_api.post(f"/api/escalations/{escalation.pk}/reject", {"reason": "late"}, format="json")
    assert second.status_code == 409


def test_the_direct_request_changes_is_a_rejection_of_the_escalation(acme, draft):
    review = submit(acme.submitter_api, draft["id"])
    assert transition(acme.approver_api, draft["id"], "request_changes").status_code == 400  # say what
    back = transition(acme.approver_api, draft["id"], "request_changes", "Add a date")
    assert back.json()["status"] == "draft" and back.json()["status_note"] == "Add a date"
    escalation = Escalation.objects.get(pk=review["escalation_id"])
    assert (escalation.status, escalation.decision_reason) == ("rejected", "Add a date")


def test_the_owner_withdraws_a_review(acme, draft, committed):
    review = submit(acme.submitter_api, draft["id"])
    with committed():
        back = transition(acme.submitter_api, draft["id"], "withdraw", "One more fix")
    assert back.json()["status"] == "draft"
    assert Escalation.objects.get(pk=review["escalation_id"]).status == "cancelled"
    assert Review.objects.get(pk=review["id"]).status == "withdrawn"
    assert transition(acme.submitter_api, draft["id"], "withdraw").status_code == 409  # nothing to withdraw


@pytest.mark.parametrize("final_outcome, status", [("reject", "draft"), ("approve", "approved")])
def test_a_review_nobody_decides_follows_the_policys_final_outcome(acme, draft, committed, final_outcome, status):
    acme.set_policy(ladder=[{"timeout_seconds": 60}], final_outcome=final_outcome)
    review = submit(acme.submitter_api, draft["id"])
    Escalation.objects.filter(pk=review["escalation_id"]).update(deadline=timezone.now() - timedelta(seconds=1))
    with committed():
        assert governance.escalations_expire_due() == 1
    assert status_of(draft["id"]) == status
    assert Review.objects.get(pk=review["id"]).status == ("expired" if final_outcome == "reject" else "approved")


def test_a_lost_hook_is_made_up_by_the_sweep(acme, draft):
    review = submit(acme.submitter_api, draft["id"])
    # Decided, and the process died before the hook ran (a test's transaction never commits: no hook).
    governance.escalation_approve(escalation_id=review["escalation_id"], user=acme.approver, reason="ok")
    assert status_of(draft["id"]) == "in_review"
    assert reviews.reviews_settle_lost(older_than=timedelta(0)) == 1
    assert status_of(draft["id"]) == "approved"
    assert reviews.reviews_settle_lost(older_than=timedelta(0)) == 0


def test_the_escalation_page_shows_the_drafts_history(acme, draft, client, committed):
    review = submit(acme.submitter_api, draft["id"])
    history = hooks.task_history(tenant_id=acme.tenant_id, task_id=review["id"])
    assert [(row["from_status"], row["to_status"]) for row in history] == [("draft", "in_review")]
    client.force_login(acme.approver)
    page = client.get(reverse("admin:governance_escalation_change", args=[review["escalation_id"]]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="task-event"' in body and "Launch note" in body and "Intro line" in body
    with committed():
        response = client.post(reverse("admin:governance_escalation_decide", args=[review["escalation_id"]]),
                               {"decision": "approve", "reason": "Approved in the admin"})
    assert response.status_code == 302
    assert status_of(draft["id"]) == "approved"
    assert Escalation.objects.get(pk=review["escalation_id"]).decision_channel == "admin"


def test_reviewers_are_told_on_slack_and_a_button_approves(acme, draft, link, webhooks, fake_vendors,
                                                           monkeypatch, committed):
    from integrations import tasks

    for task in (tasks.notify_approvers, tasks.settle_escalation):  # their bodies, here, as the worker runs them
        monkeypatch.setattr(task, "apply_async", lambda args=(), task=task, **options: task.run(*args))
    link(acme.approver, "slack", "U0ADA")
    with committed():
        review = submit(acme.submitter_api, draft["id"])
    deliver_outbox()
    asked = fake_vendors.slack.delivered("chat.postMessage")
    assert len(asked) == 1 and "drafting.review" in asked[0]["body"]["text"]
    code = DecisionCode.objects.get(escalation_id=review["escalation_id"], approver=acme.approver).code
    response = webhooks.slack_button(user_id="U0ADA", action_id="emma_approve", code=code,
                                     escalation_id=review["escalation_id"])
    assert response.status_code == 200
    process_deliveries()
    assert status_of(draft["id"]) == "approved"
    assert Escalation.objects.get(pk=review["escalation_id"]).decision_channel == "slack"


def test_another_tenant_cannot_review_or_decide_acmes_drafts(acme, globex, draft):
    assert globex.admin_api.post(f"/api/drafts/{draft['id']}/review", {}, format="json").status_code == 404
    assert globex.admin_api.get(f"/api/drafts/{draft['id']}/reviews").status_code == 404
    review = submit(acme.submitter_api, draft["id"])
    assert transition(globex.admin_api, draft["id"], "approve").status_code == 404
    assert globex.approver_api.post(f"/api/escalations/{review['escalation_id']}/approve", {"reason": "x"},
                                    format="json").status_code == 404
    assert status_of(draft["id"]) == "in_review"


def test_a_reviewer_deciding_by_code_is_told_what_was_decided_not_that_a_task_is_queued(
        acme, draft, link, fake_vendors, monkeypatch, committed):
    from integrations import approvals, tasks

    monkeypatch.setattr(tasks.notify_approvers, "apply_async",
                        lambda args=(), **options: tasks.notify_approvers.run(*args))
    link(acme.approver, "slack", "U0ADA")
    with committed():
        review = submit(acme.submitter_api, draft["id"])
    code = DecisionCode.objects.get(escalation_id=review["escalation_id"], approver=acme.approver).code
    with committed():
        decided, reply = approvals.decision_by_code(user=acme.approver, code=code, approve=True, reason="",
                                                    channel="sms")
    assert decided and reply == f"Approved: drafting.review from {acme.submitter.get_username()}."
    assert status_of(draft["id"]) == "approved"
