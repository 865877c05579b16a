"""Ask Emma from GitHub: a routing rule with action `agent_run` starts an `agent.run` when a person's comment
mentions Emma (or a label it names is added), and the run's answer goes back to the issue as ONE
`github.comment` task, governed like any side effect.

Signed deliveries go through the App's endpoint (/webhooks/github/app) for the tenant's installation 4242
of acme/shop (`hook`); a repository webhook's (/webhooks/github?tenant=) starts no run. The loopback model
(fake_llm) answers; the run and the reply are executed in this process as a worker would (`task_execute`), with what was deferred to after commit run
by `committed()`. The GitHub tools are stand-ins registered here with the real names and schemas (the
`github.comment` handler records what it would post); the hook's task on the integrations queue is recorded
and then run here, as that queue's worker would."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from emma import registry
from emma import services as emma_services
from emma.models import AgentTask
from emma.registry import task_type
from governance import services as governance
from governance.models import Escalation
from integrations import services
from integrations.github import runs
from integrations.models import GITHUB_READ_TOOLS, GitHubRequest, RoutingRule, WebhookDelivery
from integrations.models import GitHubInstallation
from tests.integrations.conftest import GITHUB_WEBHOOK_SECRET, hub_signature, process_deliveries
from tests.integrations.test_github_app import app_webhook

pytestmark = pytest.mark.django_db

QUESTION = "@emma what broke the build?"
ANSWER = "The `test_checkout` job fails since a1b2c3d changed the EU VAT rate."


@pytest.fixture
def github_tools(monkeypatch):
    """Stand-ins for the GitHub tools, in a copy of emma's registry (the real one is back after the test):
    the read-only tools, and `github.comment` {repo, number, body} (a task type and a tool, external side
    effects, medium risk) whose handler records each comment it would post."""
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    posted = []
    for name in GITHUB_READ_TOOLS:
        task_type(name, risk="low", task=False, tool=True, schema={"type": "object"})(lambda ctx, arguments: {})

    @task_type("github.comment", risk="medium", external_side_effects=True, tool=True, time_limit=60,
               schema={"type": "object", "additionalProperties": False, "required": ["repo", "number", "body"],
                       "properties": {"repo": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
                                      "number": {"type": "integer", "minimum": 1},
                                      "body": {"type": "string", "minLength": 1, "maxLength": 65536}}})
    def comment(ctx, parameters):
        posted.append(dict(parameters))
        return {"comment_id": len(posted)}

    return posted


@pytest.fixture
def published(monkeypatch):
    """What the hooks hand to the integrations queue, recorded instead of sent; `.run()` runs the GitHub
    replies here, as that queue's worker would."""
    from integrations import tasks

    class Published(list):
        def run(self):
            done = [task.run(*args) for task, args in self if task is tasks.reply_on_github]
            self.clear()
            return done

    recorded = Published()
    for task in (tasks.reply_on_github, tasks.answer_chat_request, tasks.tell_chat_requester_waiting,
                 tasks.notify_approvers, tasks.settle_escalation):
        monkeypatch.setattr(task, "apply_async", lambda args=(), task=task, **options: recorded.append((task, args)))
    return recorded


@pytest.fixture
def model(fake_llm, settings, acme):
    """The loopback model; under the tests' default `supervised` level, agent runs are allowed to start."""
    settings.LLM_MODEL = "loopback-model"
    acme.set_policy(rules={"agent.run": "allow"})
    return fake_llm


INSTALLATION = 4242


@pytest.fixture
def installation(acme):
    """acme's App installation, reaching acme/shop."""
    return GitHubInstallation.objects.create(tenant_id=acme.tenant_id, installation_id=INSTALLATION,
                                             account_login="acme", account_type="Organization",
                                             repositories=["acme/shop"])


@pytest.fixture
def hook(client, settings, installation):
    """Post a delivery of the App's webhook for acme's installation (the payload's `installation.id`)."""
    from tests.fakes.github import WEBHOOK_SECRET

    settings.GITHUB_APP_WEBHOOK_SECRET = WEBHOOK_SECRET

    def post(event, payload, *, delivery_id=None, installation_id=INSTALLATION):
        return app_webhook(client, event, {**payload, "installation": {"id": installation_id}},
                           delivery_id=delivery_id)
    return post


@pytest.fixture
def ask_rule(acme, github_tools):
    return services.routing_rule_create(tenant_id=acme.tenant_id, name="Ask Emma", provider="github",
                                        action="agent_run", event_type="issue_comment", run_as=acme.submitter)


def issue_comment(body=QUESTION, *, login="octocat", user_type="User", comment_id=1001, number=7,
                  repo="acme/shop", action="created", pull_request=False, association="MEMBER") -> dict:
    issue = {"number": number, "title": "CI is red on main", "body": "Since this morning.",
             "html_url": f"https://github.com/{repo}/issues/{number}", "user": {"login": "dana", "type": "User"}}
    if pull_request:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
    user = {"login": login, "type": user_type}
    return {"action": action, "issue": issue, "repository": {"full_name": repo},
            "comment": {"id": comment_id, "body": body, "user": user, "author_association": association,
                        "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{comment_id}"},
            "sender": user}


def labeled(label="emma", *, event="issues", login="dana", user_type="User", number=12) -> dict:
    item = {"number": number, "title": "Checkout is slow", "body": "p95 went from 300 ms to 2 s.",
            "html_url": f"https://github.com/acme/shop/issues/{number}"}
    return {"action": "labeled", "issue" if event == "issues" else "pull_request": item,
            "label": {"name": label}, "repository": {"full_name": "acme/shop"},
            "sender": {"login": login, "type": user_type}}


def execute(task_id, committed) -> AgentTask:
    with committed():
        emma_services.task_execute(task_id=task_id)
    return AgentTask.objects.get(pk=task_id)


def agent_runs():
    return list(AgentTask.objects.filter(task_type="agent.run").order_by("created_at"))


def replies():
    return list(AgentTask.objects.filter(task_type="github.comment").order_by("created_at"))


# --- starting a run ----------------------------------------------------------------------------------------


def test_a_comment_mentioning_emma_starts_one_agent_run_with_the_question_and_the_read_only_tools(
        acme, ask_rule, hook, model):
    delivery_id = str(uuid.uuid4())
    assert hook("issue_comment", issue_comment(), delivery_id=delivery_id).status_code == 200
    assert process_deliveries() == ["processed"]

    run, = agent_runs()
    assert (run.submitter, run.channel, run.decision, run.status) == (acme.submitter, "github", "allow", "queued")
    assert run.parameters["tools"] == ["github.get_issue", "github.get_file", "github.search_code"]
    instructions = run.parameters["instructions"]
    for part in (QUESTION, "acme/shop", "issue #7", "CI is red on main", "@octocat",
                 "https://github.com/acme/shop/issues/7#issuecomment-1001", "posted as a comment on acme/shop#7"):
        assert part in instructions
    origin = GitHubRequest.objects.get()
    assert (origin.task_id, origin.tenant_id, origin.rule, origin.repo, origin.number, origin.comment_id,
            origin.delivery_id, origin.requested_by, origin.reply_task_id) == (
        run.pk, acme.tenant_id, ask_rule, "acme/shop", 7, 1001, delivery_id, "octocat", None)


def test_a_redelivery_or_the_same_comment_through_another_hook_starts_nothing_new(acme, ask_rule, hook, model):
    delivery_id = str(uuid.uuid4())
    hook("issue_comment", issue_comment(), delivery_id=delivery_id)
    process_deliveries()
    again = hook("issue_comment", issue_comment(), delivery_id=delivery_id)
    assert again.json()["status"] == "duplicate"
    assert process_deliveries() == []
    # The same comment under another delivery id (a second hook on the repository, or the App's).
    hook("issue_comment", issue_comment())
    assert process_deliveries() == ["processed"]
    assert len(agent_runs()) == 1 and GitHubRequest.objects.count() == 1


@pytest.mark.parametrize("payload", [
    issue_comment("emma, what broke the build?"),  # no @
    issue_comment("@emmabot what broke the build?"),  # another account
    issue_comment("write to ops@emma.io about it"),
    issue_comment(QUESTION, login="dependabot[bot]"),
    issue_comment(QUESTION, login="ci-helper", user_type="Bot"),
    issue_comment(f"{ANSWER} @emma\n\n<!-- emma:reply 1 -->", login="dana"),  # Emma's own reply, by a token
    issue_comment(QUESTION, action="edited"),
], ids=["no-mention", "another-account", "an-address", "bot-login", "bot-type", "emma-marker", "edited"])
def test_comments_that_do_not_ask_emma_start_nothing(acme, ask_rule, hook, model, payload):
    hook("issue_comment", payload)
    assert process_deliveries() == ["processed"]  # remembered as an episode all the same
    assert agent_runs() == [] and not GitHubRequest.objects.exists()


@pytest.mark.parametrize("association", ["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE", "", None])
def test_a_comment_by_someone_without_access_to_the_repository_starts_nothing(acme, ask_rule, hook, model, caplog,
                                                                            association):
    payload = issue_comment(association=association, login="stranger")
    if association is None:
        del payload["comment"]["author_association"]
    with caplog.at_level("INFO", logger="integrations.services"):
        hook("issue_comment", payload)
        assert process_deliveries() == ["processed"]
    assert agent_runs() == [] and not GitHubRequest.objects.exists()
    assert "GITHUB_ASK_ASSOCIATIONS" in caplog.text and "stranger" in caplog.text


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR", "member"])
def test_an_owner_member_or_collaborator_may_ask(acme, ask_rule, hook, model, association):
    hook("issue_comment", issue_comment(association=association))
    process_deliveries()
    assert len(agent_runs()) == 1


def test_who_may_ask_is_set_by_github_ask_associations(acme, ask_rule, hook, model, settings):
    settings.GITHUB_ASK_ASSOCIATIONS = ["OWNER"]
    hook("issue_comment", issue_comment(association="MEMBER", comment_id=1))
    hook("issue_comment", issue_comment(association="OWNER", comment_id=2))
    process_deliveries()
    assert list(GitHubRequest.objects.values_list("comment_id", flat=True)) == [2]


def test_a_repository_webhook_delivery_starts_no_run_but_notify_rules_still_act(acme, ask_rule, webhooks, model):
    """/webhooks/github?tenant=<slug> is signed with the deployment's one secret: whoever knows it (any tenant
    with a repository webhook) could name another tenant. Its deliveries start no agent run."""
    services.routing_rule_create(tenant_id=acme.tenant_id, name="comments to Slack", provider="github",
                                 event_type="issue_comment", channel="slack", to="C0DEV", run_as=acme.admin)
    payload = {**issue_comment(), "installation": {"id": INSTALLATION}}
    assert webhooks.github("issue_comment", payload, tenant="acme").status_code == 200
    # A header claiming the App's endpoint is not kept by the repository webhook endpoint.
    body = json.dumps({**payload, "comment": {**payload["comment"], "id": 1002}}).encode()
    webhooks.client.post("/webhooks/github?tenant=acme", data=body, content_type="application/json", headers={
        "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": hub_signature(GITHUB_WEBHOOK_SECRET, body), runs.APP_ENDPOINT_HEADER: runs.APP_ENDPOINT})
    assert process_deliveries() == ["processed", "processed"]
    assert agent_runs() == [] and not GitHubRequest.objects.exists()
    assert list(AgentTask.objects.values_list("task_type", flat=True)) == ["notify", "notify"]


def test_an_app_delivery_starts_a_run_only_on_a_repository_of_its_enabled_installation(
        acme, globex, ask_rule, hook, model, installation):
    hook("issue_comment", issue_comment(repo="acme/secret-plans", comment_id=1))  # not the installation's
    GitHubInstallation.objects.create(tenant_id=globex.tenant_id, installation_id=777, account_login="globex",
                                      account_type="Organization", repositories=["globex/app"])
    hook("issue_comment", issue_comment(repo="globex/app", comment_id=2), installation_id=777)  # globex's
    hook("issue_comment", issue_comment(comment_id=3), installation_id=999)  # unknown: no tenant at all
    assert process_deliveries() == ["processed", "processed", "ignored"]  # the unknown one: no tenant
    assert agent_runs() == []
    GitHubInstallation.objects.filter(pk=installation.pk).update(disabled_at=timezone.now())
    hook("issue_comment", issue_comment(comment_id=4))
    process_deliveries()
    assert agent_runs() == []
    GitHubInstallation.objects.filter(pk=installation.pk).update(disabled_at=None)
    hook("issue_comment", issue_comment(repo="ACME/Shop", comment_id=5))  # GitHub's names ignore case
    process_deliveries()
    assert len(agent_runs()) == 1


def test_an_odd_payload_starts_nothing_and_fails_nothing(acme, ask_rule, hook, model):
    for number in ("7", 2**40, True, None):
        hook("issue_comment", issue_comment(number=number, comment_id=hash(str(number)) % 1000))
    hook("issue_comment", {"action": "created", "comment": "@emma", "issue": [], "sender": None})
    nul = issue_comment("@emma why\u0000?", comment_id=2**70)  # PostgreSQL stores no NUL; an id too big
    nul["issue"]["title"] = "x" * 5000
    hook("issue_comment", nul)
    assert process_deliveries() == ["processed"] * 6
    run, = agent_runs()
    assert "@emma why?" in run.parameters["instructions"] and "x" * 301 not in run.parameters["instructions"]
    assert GitHubRequest.objects.get().comment_id is None


def test_the_mention_is_case_insensitive_and_set_by_github_mention(acme, ask_rule, hook, model, settings):
    hook("issue_comment", issue_comment("Hey @EMMA, why?", comment_id=1))
    process_deliveries()
    settings.GITHUB_MENTION = "@acme-bot"
    hook("issue_comment", issue_comment("@emma ignored now", comment_id=2))
    hook("issue_comment", issue_comment("@Acme-Bot: why?", comment_id=3))
    process_deliveries()
    assert sorted(GitHubRequest.objects.values_list("comment_id", flat=True)) == [1, 3]


def test_a_comment_on_a_pull_request_says_so(acme, ask_rule, hook, model):
    hook("issue_comment", issue_comment(pull_request=True, number=31))
    process_deliveries()
    run, = agent_runs()
    assert "pull request #31" in run.parameters["instructions"]


def test_a_label_the_rule_names_starts_a_run_on_the_issue_or_pull_request(acme, github_tools, hook, model):
    for event in ("issues", "pull_request"):
        services.routing_rule_create(tenant_id=acme.tenant_id, name=f"emma label on {event}", provider="github",
                                     action="agent_run", event_type=event, run_as=acme.submitter,
                                     match={"action": "labeled", "label.name": "emma"},
                                     tools=["github.get_issue"])
    hook("issues", labeled("emma"))
    hook("issues", labeled("bug"))
    hook("issues", labeled("emma", login="triage[bot]"))
    hook("pull_request", labeled("emma", event="pull_request", number=40))
    process_deliveries()

    issue_run, pr_run = agent_runs()
    assert issue_run.parameters["tools"] == ["github.get_issue"]
    instructions = issue_run.parameters["instructions"]
    assert "@dana added the label “emma” to issue #12" in instructions and "p95 went from 300 ms" in instructions
    assert "pull request #40" in pr_run.parameters["instructions"]
    assert sorted(GitHubRequest.objects.values_list("number", "comment_id")) == [(12, None), (40, None)]


def test_a_label_starts_nothing_unless_the_rule_names_it(acme, github_tools, hook, model):
    services.routing_rule_create(tenant_id=acme.tenant_id, name="any issue event", provider="github",
                                 action="agent_run", event_type="issues", run_as=acme.submitter)
    hook("issues", labeled("wontfix"))
    process_deliveries()
    assert agent_runs() == []


def test_another_tenants_rule_never_fires(acme, globex, github_tools, hook, model):
    services.routing_rule_create(tenant_id=globex.tenant_id, name="Ask Emma", provider="github",
                                 action="agent_run", run_as=globex.submitter)
    hook("issue_comment", issue_comment())
    assert process_deliveries() == ["processed"]
    assert agent_runs() == [] and WebhookDelivery.objects.get().tenant_id == acme.tenant_id


def test_a_notify_rule_and_an_agent_run_rule_both_act_on_one_comment(acme, ask_rule, hook, model):
    services.routing_rule_create(tenant_id=acme.tenant_id, name="comments to Slack", provider="github",
                                 event_type="issue_comment", channel="slack", to="C0DEV", run_as=acme.admin)
    hook("issue_comment", issue_comment())
    process_deliveries()
    assert sorted(AgentTask.objects.values_list("task_type", flat=True)) == ["agent.run", "notify"]


# --- the answer goes back ------------------------------------------------------------------------------------


def asked_and_run(hook, committed, model, answer=ANSWER) -> AgentTask:
    model.reply(text=answer)
    hook("issue_comment", issue_comment())
    process_deliveries()
    run, = agent_runs()
    return execute(run.pk, committed)


def test_a_finished_run_submits_one_github_comment_with_the_answer_and_it_posts_once(
        acme, ask_rule, hook, model, committed, published, github_tools):
    acme.set_policy(rules={"agent.run": "allow", "github.comment": "allow"})
    run = asked_and_run(hook, committed, model)
    assert run.status == "succeeded", run.error
    assert replies() == []  # the finishing thread only hands the reply to the integrations queue
    assert published.run() == [True]

    reply, = replies()
    assert (reply.submitter, reply.channel, reply.idempotency_key) == (
        acme.submitter, "github", f"github:reply:{run.pk}")
    assert reply.parameters["repo"] == "acme/shop" and reply.parameters["number"] == 7
    body = reply.parameters["body"]
    assert body.startswith(ANSWER) and "<!-- emma:" in body  # the marker: the reply never asks Emma again
    assert GitHubRequest.objects.get().reply_task_id == reply.pk

    runs.on_task_finished(task=run)  # a repeated hook, a redelivered message
    assert published == []  # the reply is recorded: nothing more to hand over
    assert runs.github_reply_submit(task_id=run.pk) is None
    assert len(replies()) == 1

    assert execute(reply.pk, committed).status == "succeeded"
    assert github_tools == [{"repo": "acme/shop", "number": 7, "body": body}]
    assert published.run() == []  # a github.comment finishing is no run to answer


def test_under_supervised_the_reply_waits_for_an_approver_who_reads_it_in_the_admin(
        acme, ask_rule, hook, model, committed, published, github_tools, client):
    run = asked_and_run(hook, committed, model)
    published.run()
    reply, = replies()
    assert reply.status == "pending_approval" and github_tools == []
    escalation = Escalation.objects.get(task_id=reply.pk, status="open")
    assert "supervised: the task has external side effects" in escalation.reasons

    client.force_login(acme.approver)
    page = client.get(f"/admin/governance/escalation/{escalation.pk}/change/").content.decode()
    assert "The `test_checkout` job fails since a1b2c3d changed the EU VAT rate." in page

    with committed():
        governance.escalation_approve(escalation_id=escalation.pk, user=acme.approver, reason="accurate")
    assert execute(reply.pk, committed).status == "succeeded"
    assert [comment["body"].split("\n\n")[0] for comment in github_tools] == [ANSWER]
    runs.on_task_finished(task=run)
    published.run()
    assert len(replies()) == 1 and len(github_tools) == 1


def test_a_failed_run_posts_a_short_note_without_the_error(acme, ask_rule, hook, model, committed, published,
                                                          settings):
    acme.set_policy(rules={"agent.run": "allow", "github.comment": "allow"})
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_THRESHOLD = 100
    for _ in range(3):
        model.fail(503)
    hook("issue_comment", issue_comment())
    process_deliveries()
    run_id = agent_runs()[0].pk
    for _ in range(3):  # the run retries with backoff before it fails
        run = execute(run_id, committed)
    assert run.status == "failed"
    published.run()
    reply, = replies()
    body = reply.parameters["body"]
    assert body.startswith("Sorry, I could not finish this") and "503" not in body


def test_a_denied_run_says_it_was_not_approved_and_a_cancelled_one_says_nothing(
        acme, ask_rule, hook, model, committed, published):
    acme.set_policy(rules={"agent.run": "deny", "github.comment": "allow"})
    hook("issue_comment", issue_comment(comment_id=1))
    process_deliveries()  # runs what the delivery's commit set off: the denied run's hook
    denied, = agent_runs()
    assert denied.status == "rejected"
    published.run()
    reply, = replies()
    assert reply.parameters["body"].startswith("This request was not approved")

    acme.set_policy(rules={"agent.run": "allow"})
    hook("issue_comment", issue_comment(comment_id=2))
    process_deliveries()
    cancelled = AgentTask.objects.get(task_type="agent.run", status="queued")
    with committed():
        emma_services.task_cancel(user=acme.submitter, task_id=cancelled.pk)
    published.run()
    assert len(replies()) == 1


def test_a_lost_hook_is_made_up_for_by_the_sweep_once(acme, ask_rule, hook, model, committed, published):
    acme.set_policy(rules={"agent.run": "allow", "github.comment": "allow"})
    run = asked_and_run(hook, committed, model)
    published.clear()  # the hook's message never reached the integrations queue
    assert runs.github_replies_submit_missed() == 0  # just ended: the hook may still be on its way
    AgentTask.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(minutes=2))
    assert runs.github_replies_submit_missed() == 1
    assert runs.github_replies_submit_missed() == 0
    reply, = replies()
    assert reply.parameters["body"].startswith(ANSWER)


def test_the_github_origin_of_an_ended_run_goes_with_log_retention(acme, ask_rule, hook, model, committed,
                                                                   published):
    from operations.retention import logs_prune

    model.reply(text="Done.")
    for comment_id in (1, 2):
        hook("issue_comment", issue_comment(comment_id=comment_id))
    process_deliveries()
    ended, waiting = agent_runs()
    execute(ended.pk, committed)
    GitHubRequest.objects.update(created_at=timezone.now() - timedelta(days=40))

    logs_prune(days=30, only=["integrations.github_requests"])
    assert list(GitHubRequest.objects.values_list("task_id", flat=True)) == [waiting.pk]  # still to be answered


# --- rules ---------------------------------------------------------------------------------------------------------


def test_rules_are_checked_for_their_action(acme, github_tools):
    from core.errors import Invalid

    with pytest.raises(Invalid) as notify_without_channel:
        services.routing_rule_create(tenant_id=acme.tenant_id, name="n", provider="github", run_as=acme.admin)
    assert set(notify_without_channel.value.details) == {"channel", "to"}
    with pytest.raises(Invalid) as sentry_run:
        services.routing_rule_create(tenant_id=acme.tenant_id, name="s", provider="sentry", action="agent_run",
                                     run_as=acme.admin)
    assert "action" in sentry_run.value.details
    with pytest.raises(Invalid) as unknown_tool:
        services.routing_rule_create(tenant_id=acme.tenant_id, name="t", provider="github", action="agent_run",
                                     run_as=acme.admin, tools=["github.delete_repo"])
    assert "github.delete_repo" in unknown_tool.value.details["tools"][0]
    rule = services.routing_rule_create(tenant_id=acme.tenant_id, name="a", provider="github", action="agent_run",
                                        run_as=acme.admin, tools=[])
    assert rule.tools == list(GITHUB_READ_TOOLS)  # never every tool
    assert RoutingRule.objects.count() == 1


def test_the_admin_adds_an_agent_run_rule_without_a_channel(admin_client, acme, github_tools):
    response = admin_client.post("/admin/integrations/routingrule/add/", {
        "tenant": acme.tenant_id, "name": "Ask Emma", "provider": "github", "action": "agent_run",
        "event_type": "issue_comment", "match": "{}", "channel": "", "to": "", "tools": "",
        "run_as": acme.submitter.pk, "enabled": "on"})
    assert response.status_code == 302, response.content
    rule = RoutingRule.objects.get()
    assert (rule.action, rule.channel, rule.tools) == ("agent_run", "", list(GITHUB_READ_TOOLS))
    refused = admin_client.post("/admin/integrations/routingrule/add/", {
        "tenant": acme.tenant_id, "name": "No channel", "provider": "github", "action": "notify",
        "event_type": "push", "match": "{}", "channel": "", "to": "", "tools": "",
        "run_as": acme.submitter.pk, "enabled": "on"})
    assert refused.status_code == 200 and b"A notify rule needs the channel" in refused.content
    assert admin_client.get(f"/admin/integrations/routingrule/{rule.pk}/change/").status_code == 200


def test_a_notify_task_cannot_name_an_agent_run_rule(acme, ask_rule):
    body = acme.submit(task_type="notify", parameters={"rule_id": ask_rule.pk, "text": "hello"})
    emma_services.task_execute(task_id=body["task_id"])
    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.status == "failed" and "not a notify rule" in task.error


def test_the_github_requests_screen_shows_a_tenants_own_requests_only(acme, globex, ask_rule, hook, model,
                                                                      client):
    hook("issue_comment", issue_comment())
    process_deliveries()
    run, = agent_runs()
    client.force_login(acme.approver)
    assert str(run.pk) in client.get("/admin/integrations/githubrequest/").content.decode()
    client.force_login(globex.approver)
    page = client.get("/admin/integrations/githubrequest/")
    assert page.status_code == 200 and str(run.pk) not in page.content.decode()
    assert client.get(f"/admin/integrations/githubrequest/{run.pk}/change/").status_code in (302, 404)
