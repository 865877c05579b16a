"""Publishing an approved draft: a `drafting.publish` task, governed by the tenant's policy like any task,
that sends the approved revision once (Slack through the outbox, email, a webhook, GitHub) and keeps the
provider's receipt."""

import pytest
from django.core import mail

from core.configuration import services as configuration
from drafting import publishing, reviews
from drafting.models import Draft, Publication
from emma import services as emma
from emma.models import AgentTask
from emma.services.tasks import TaskContext
from governance.models import AuditEvent
from integrations.models import GitHubInstallation
from tests.conftest import wait_for, wait_for_status
from tests.drafting.conftest import create
from tests.emma import conftest as emma_fixtures
from tests.integrations import conftest as integrations_fixtures

# The fixtures of the fakes: a loopback webhook receiver, the fake Slack and GitHub, and their settings.
receiver = emma_fixtures.receiver
fake_vendors, fake_github = integrations_fixtures.fake_vendors, integrations_fixtures.fake_github
integration_settings = integrations_fixtures.integration_settings
clean_shared_state = integrations_fixtures._clean_shared_state


def approved_draft(team, content="We ship on Monday.\n") -> dict:
    """A draft of the team's submitter, reviewed and approved by its approver (through the escalation)."""
    draft = create(team.submitter_api, title="Launch note", content=content)
    reviews.review_submit(user=team.submitter, draft_id=draft["id"])
    reviews.review_decide(user=team.approver, draft_id=draft["id"], approve=True, note="Good")
    assert Draft.objects.get(pk=draft["id"]).status == "approved"
    return draft


def publish(client, draft_id, **body):
    return client.post(f"/api/drafts/{draft_id}/publish", body, format="json")


def run_task(publication_id) -> str:
    """The publication's task, run here as the worker would run it."""
    task = AgentTask.objects.get(pk=Publication.objects.get(pk=publication_id).task_id)
    return emma.task_execute(task_id=task.pk, task_type=task.task_type)


def redeliver(publication_id) -> dict:
    """The handler run again for the same task, as after a worker died after the send, before its task ended."""
    task = AgentTask.objects.get(pk=Publication.objects.get(pk=publication_id).task_id)
    return publishing.publish(TaskContext(task), task.parameters)


@pytest.mark.django_db(transaction=True)
def test_publishing_to_slack_sends_once_and_keeps_the_receipt(acme, fake_vendors, celery_worker_process):
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme)

    response = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches")
    assert response.status_code == 202, response.content
    publication = response.json()
    assert publication["status"] == "pending" and publication["escalation_id"] is None
    wait_for(lambda: Publication.objects.get(pk=publication["id"]).status == "published", timeout=30,
             message="the publication to be sent")
    wait_for_status(publication["task_id"], "succeeded")

    posted = fake_vendors.slack.delivered("chat.postMessage")
    assert len(posted) == 1 and posted[0]["body"]["channel"] == "#launches"
    assert "Launch note" in posted[0]["body"]["text"] and "We ship on Monday." in posted[0]["body"]["text"]
    stored = Publication.objects.get(pk=publication["id"])
    assert stored.receipt["provider_message_id"] and stored.published_at
    assert Draft.objects.get(pk=draft["id"]).status == "published"
    audited = AuditEvent.objects.get(action="task.succeeded", object_id=publication["task_id"])
    assert audited.after["receipt"]["provider_message_id"] == stored.receipt["provider_message_id"]

    # The same request again: the same publication, nothing sent again; a redelivered task sends nothing.
    again = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches")
    assert again.status_code == 200 and again.json()["id"] == publication["id"]
    assert again.json()["receipt"] == stored.receipt
    assert run_task(publication["id"]) == "not-claimed"
    assert redeliver(publication["id"])["already_published"] is True
    assert len(fake_vendors.slack.delivered("chat.postMessage")) == 1
    # Another channel for the same revision and target is a conflict, not a second post.
    other = publish(acme.submitter_api, draft["id"], target="slack", channel="#general")
    assert other.status_code == 409 and other.json()["error"]["details"]["publication"] == publication["id"]


@pytest.mark.django_db
def test_a_policy_that_escalates_publishing_waits_for_the_approval(acme, fake_vendors, committed):
    acme.set_policy(rules={"drafting.publish": "escalate"})
    draft = approved_draft(acme)
    publication = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches").json()
    assert publication["status"] == "pending" and publication["escalation_id"]
    escalation = acme.approver_api.get(f"/api/escalations/{publication['escalation_id']}").json()
    assert escalation["task_type"] == "drafting.publish" and "#launches" in escalation["what"]
    assert run_task(publication["id"]) == "not-claimed"  # not before the approval
    assert fake_vendors.slack.delivered() == []

    with committed():
        acme.approver_api.post(f"/api/escalations/{publication['escalation_id']}/approve", {"reason": "Go"},
                               format="json")
    assert run_task(publication["id"]) == "succeeded"
    assert Publication.objects.get(pk=publication["id"]).status == "published"
    assert len(fake_vendors.slack.delivered("chat.postMessage")) == 1


@pytest.mark.django_db
def test_a_rejected_publication_is_refused_and_nothing_is_sent(acme, fake_vendors, committed):
    draft = approved_draft(acme)  # the default policy (supervised) escalates an external side effect
    publication = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches").json()
    with committed():
        acme.approver_api.post(f"/api/escalations/{publication['escalation_id']}/reject", {"reason": "Not yet"},
                               format="json")
    refused = Publication.objects.get(pk=publication["id"])
    assert refused.status == "refused" and "Not yet" in refused.error
    assert fake_vendors.slack.delivered() == [] and Draft.objects.get(pk=draft["id"]).status == "approved"
    # Refused: it may be asked again.
    assert publish(acme.submitter_api, draft["id"], target="slack", channel="#launches").status_code == 202


@pytest.mark.django_db
def test_a_policy_that_denies_publishing_refuses_it_at_once(acme, committed):
    acme.set_policy(rules={"drafting.publish": "deny"})
    draft = approved_draft(acme)
    with committed():
        response = publish(acme.submitter_api, draft["id"], target="webhook", url="https://example.com/hook")
    assert response.status_code == 202 and response.json()["status"] == "refused"
    assert "denies" in response.json()["error"]


@pytest.mark.django_db
def test_a_draft_that_is_not_approved_is_not_published(acme, draft):
    response = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches")
    assert response.status_code == 409 and response.json()["error"]["details"]["status"] == "draft"
    reviews.review_submit(user=acme.submitter, draft_id=draft["id"])
    assert publish(acme.submitter_api, draft["id"], target="slack", channel="#launches").status_code == 409
    assert not Publication.objects.exists()


@pytest.mark.django_db
def test_each_target_needs_its_own_fields(acme):
    draft = approved_draft(acme)
    assert publish(acme.submitter_api, draft["id"], target="slack").json()["error"]["details"]["channel"]
    wrong = publish(acme.submitter_api, draft["id"], target="slack", channel="#a", url="https://example.com")
    assert wrong.status_code == 400 and "url" in wrong.json()["error"]["details"]
    both = publish(acme.submitter_api, draft["id"], target="github", repo="acme-org/shop", issue=3, title="x")
    assert both.status_code == 400
    assert publish(acme.submitter_api, draft["id"], target="email", to=["not an email"]).status_code == 400


@pytest.mark.django_db
def test_only_the_owner_and_admins_publish(acme):
    draft = approved_draft(acme)
    assert publish(acme.approver_api, draft["id"], target="slack", channel="#a").status_code == 403


@pytest.mark.django_db
def test_publishing_by_email_sends_one_email(acme, committed):
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme, content="Dear all,\nwe ship on Monday.\n")
    publication = publish(acme.admin_api, draft["id"], target="email", to=["team@acme.example"],
                          subject="We ship").json()
    assert run_task(publication["id"]) == "succeeded"
    sent, = mail.outbox
    assert (sent.subject, sent.to, sent.body) == ("We ship", ["team@acme.example"], "Dear all,\nwe ship on Monday.\n")
    stored = Publication.objects.get(pk=publication["id"])
    assert stored.status == "published" and stored.receipt["message_id"] == sent.extra_headers["Message-ID"]
    assert redeliver(publication["id"])["already_published"] is True and len(mail.outbox) == 1


@pytest.mark.django_db
def test_publishing_to_a_webhook_carries_the_publication_as_its_idempotency_key(acme, receiver):
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme)
    publication = publish(acme.submitter_api, draft["id"], target="webhook", url=receiver.url).json()
    assert run_task(publication["id"]) == "succeeded"
    received, = receiver.received
    assert received["idempotency_key"] == f"publication:{publication['id']}"
    assert received["body"]["content"] == "We ship on Monday.\n" and received["body"]["revision"] == 1
    assert Publication.objects.get(pk=publication["id"]).receipt == {"status_code": 200}


@pytest.mark.django_db
def test_publishing_as_a_github_comment_posts_it_once(acme, fake_github):
    repo = "acme-org/shop"
    fake_github.install(4242, account="acme-org", repositories=[repo])
    fake_github.issue(repo, 7, title="Release 2.0")
    GitHubInstallation.objects.create(tenant_id=acme.tenant_id, installation_id=4242, account_login="acme-org",
                                      account_type="Organization", repositories=[repo])
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme)
    publication = publish(acme.submitter_api, draft["id"], target="github", repo=repo, issue=7).json()
    assert run_task(publication["id"]) == "succeeded"
    comments = fake_github.comments(repo, 7)
    assert len(comments) == 1 and "## Launch note" in comments[0] and "We ship on Monday." in comments[0]
    assert Publication.objects.get(pk=publication["id"]).receipt["url"]
    # A retry after a crash that lost the answer finds its comment by its marker and posts nothing.
    Publication.objects.filter(pk=publication["id"]).update(status="pending")
    assert redeliver(publication["id"])["receipt"]["url"]
    assert len(fake_github.comments(repo, 7)) == 1


@pytest.mark.django_db
def test_a_provider_the_tenant_turned_off_refuses_the_slack_publication(acme, fake_vendors, committed):
    acme.set_policy(rules={"drafting.publish": "allow"})
    configuration.config_update(tenant_id=acme.tenant_id, document="integrations", user=acme.admin, reason="test",
                                content={"providers": {"slack": False}})
    draft = approved_draft(acme)
    publication = publish(acme.submitter_api, draft["id"], target="slack", channel="#launches").json()
    with committed():
        assert run_task(publication["id"]) == "failed"
    failed = Publication.objects.get(pk=publication["id"])
    assert failed.status == "failed" and "turned off" in failed.error
    assert fake_vendors.slack.delivered() == [] and Draft.objects.get(pk=draft["id"]).status == "approved"


@pytest.mark.django_db
@pytest.mark.django_db
def test_a_drafting_publish_task_cannot_be_asked_for_through_the_task_api(acme, fake_vendors):
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme)
    forged = acme.submitter_api.post("/api/tasks", {"task_type": "drafting.publish", "parameters": {
        "publication": "00000000-0000-0000-0000-000000000000", "draft": draft["id"], "title": "x", "revision": 1,
        "target": "slack", "destination": {"channel": "#launches"}}}, format="json")
    assert forged.status_code == 400
    assert "POST /api/drafts/{id}/publish" in forged.json()["error"]["details"]["task_type"][0]
    types = {t["name"]: t for t in acme.submitter_api.get("/api/task-types").json()}
    assert types["drafting.publish"]["submitted_through"] == "POST /api/drafts/{id}/publish"
    assert types["diagnostic.echo"]["submitted_through"] is None
    assert not AgentTask.objects.filter(task_type="drafting.publish").exists()


@pytest.mark.django_db
def test_a_drafting_publish_task_for_no_waiting_publication_publishes_nothing(acme, fake_vendors):
    """Its handler acts only on the publication waiting for this very task."""
    acme.set_policy(rules={"drafting.publish": "allow"})
    draft = approved_draft(acme)
    forged = emma.task_submit(user=acme.submitter, task_type="drafting.publish", by_its_app=True, parameters={
        "publication": "00000000-0000-0000-0000-000000000000", "draft": draft["id"], "title": "x", "revision": 1,
        "target": "slack", "destination": {"channel": "#launches"}})
    assert emma.task_execute(task_id=forged.task.pk, task_type="drafting.publish") == "failed"
    assert fake_vendors.slack.delivered() == []


@pytest.mark.django_db
def test_another_tenant_cannot_publish_or_read_acmes_publications(acme, globex):
    draft = approved_draft(acme)
    assert publish(globex.admin_api, draft["id"], target="slack", channel="#x").status_code == 404
    assert globex.admin_api.get(f"/api/drafts/{draft['id']}/publications").status_code == 404
    assert not Publication.objects.exists()
