"""The whole way, with the real github.* tools: a person mentions Emma in a comment on a repository of the
tenant's App installation; the App's webhook starts an agent run (the loopback model answers); the answer
becomes a github.comment task that waits for an approver under `supervised`; once approved it is posted on the
fake GitHub (tests/fakes/github.py), once, however often the task or the hook runs again."""

import pytest

from emma import services as emma_services
from governance import services as governance
from governance.models import Escalation
from integrations import services
from integrations.github import runs
from integrations.models import GitHubInstallation
from tests.integrations.conftest import process_deliveries
from tests.integrations.test_github_app import app_webhook
from tests.integrations.test_github_runs import (ANSWER, agent_runs, execute, issue_comment, model,  # noqa: F401
                                                 published, replies)

pytestmark = pytest.mark.django_db

REPO = "acme-org/shop"


def test_a_mention_through_the_app_is_answered_on_github_once_after_an_approval(
        acme, fake_github, model, committed, published, client):  # noqa: F811
    fake_github.install(4242, account="acme-org", repositories=[REPO])
    fake_github.issue(REPO, 7, title="CI is red on main", body="Since this morning.")
    GitHubInstallation.objects.create(tenant_id=acme.tenant_id, installation_id=4242, account_login="acme-org",
                                      account_type="Organization", repositories=[REPO])
    services.routing_rule_create(tenant_id=acme.tenant_id, name="Ask Emma", provider="github", action="agent_run",
                                 event_type="issue_comment", run_as=acme.submitter)
    model.reply(text=ANSWER)

    payload = {**issue_comment(repo=REPO), "installation": {"id": 4242}}
    assert app_webhook(client, "issue_comment", payload).status_code == 200
    process_deliveries()
    run, = agent_runs()
    assert execute(run.pk, committed).status == "succeeded", run.error
    published.run()

    reply, = replies()
    assert reply.parameters["repo"] == REPO and reply.parameters["number"] == 7
    escalation = Escalation.objects.get(task_id=reply.pk, status="open")
    assert fake_github.comments(REPO, 7) == []  # nothing is posted before the approval
    with committed():
        governance.escalation_approve(escalation_id=escalation.pk, user=acme.approver, reason="accurate")
    assert execute(reply.pk, committed).status == "succeeded"
    posted = fake_github.comments(REPO, 7)
    assert len(posted) == 1 and posted[0].startswith(ANSWER)

    # The worker's message delivered again, and the finished-run hook called again: nothing more is posted.
    with committed():
        emma_services.task_execute(task_id=reply.pk)
        runs.on_task_finished(task=run)
    published.run()
    assert len(replies()) == 1 and len(fake_github.comments(REPO, 7)) == 1
