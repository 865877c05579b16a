"""agent.run: a model (played by a loopback server speaking the provider's wire format) works with tools,
every tool call is a governed decision, an escalated call pauses the run without a worker, and the
approver's answer (approve, approve with edits, reply, reject, reject and stop) resumes it where it stopped.

The run is executed in this process as the worker would (`task_execute`); `committed()` runs what the
decisions defer to after their commit (the hook that queues the run again)."""

import json
from decimal import Decimal

import pytest

from emma import services
from emma.models import AgentRunStep, AgentTask
from governance.models import AuditEvent, Escalation

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(fake_llm, settings):
    """The loopback model (tests/fakes/llm.py), OpenAI's wire format unless a test says otherwise."""
    settings.LLM_MODEL = "loopback-model"
    return fake_llm


def start(team, committed, **parameters):
    """Submit an agent.run the policy lets start, and run it as far as it goes."""
    rules = team.admin_api.get("/api/governance/policy").json()["policy"]["rules"]
    team.set_policy(rules={**rules, "agent.run": "allow"})
    body = team.submit(task_type="agent.run", parameters={"instructions": "Do the thing.", **parameters})
    assert body["decision"] == "allow", body
    return step(body["task_id"], committed)


def step(task_id, committed) -> AgentTask:
    with committed():
        services.task_execute(task_id=task_id)
    return AgentTask.objects.get(pk=task_id)


def decide(team, escalation_id, verb, committed, **body):
    with committed():
        response = team.approver_api.post(f"/api/escalations/{escalation_id}/{verb}",
                                          {"reason": "looked at it", **body}, format="json")
    return response


def tool_messages(request) -> list[dict]:
    return [m for m in request.body["messages"] if m["role"] == "tool"]


def test_an_allowed_tool_runs_and_the_model_finishes(acme, model, committed):
    model.reply(tool_calls=[("memory_store", {"content": "The VPN certificate expires in May."})], usage=(100, 20))
    model.reply(text="Stored the note.", usage=(150, 10))

    run = start(acme, committed, tools=["memory_store"])

    assert run.status == "succeeded", run.error
    assert run.result["answer"] == "Stored the note." and run.result["tool_calls"] == 1
    steps = list(run.steps.all())
    assert [(s.kind, s.tool, s.decision, s.status) for s in steps] == [
        ("model", "", "", ""), ("tool", "memory_store", "allow", "done"), ("model", "", "", "")]
    assert run.actual_cost == sum(s.cost for s in steps)
    assert '"created": true' in tool_messages(model.requests[1])[0]["content"]
    actions = list(AuditEvent.objects.filter(object_id=str(run.pk)).order_by("seq").values_list("action", flat=True))
    assert actions == ["task.submitted", "agent.tool_call", "agent.tool_result", "task.succeeded"]


def test_a_denied_tool_is_reported_to_the_model_which_works_around_it(acme, model, committed, receiver):
    acme.set_policy(rules={"tool:webhook.post": "deny"})
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    model.reply(text="I could not post it: the policy denies webhooks.")

    run = start(acme, committed)

    assert run.status == "succeeded"
    told = tool_messages(model.requests[1])[0]["content"]
    assert told.startswith("denied by policy") and "webhook.post" in told
    assert receiver.received == []


def test_an_escalated_call_pauses_then_runs_once_with_the_edited_arguments(acme, model, committed, receiver):
    model.reply(text="I will tell the CRM.", tool_calls=[("webhook.post", {"url": receiver.url, "body": {"deal": 1}})])
    model.reply(text="Told the CRM.")

    run = start(acme, committed, tools=["webhook.post"])

    assert run.status == "waiting_for_approval"
    escalation = Escalation.objects.get(task_id=run.pk, status="open")
    assert (escalation.step, escalation.tool, escalation.parameters) == (2, "webhook.post",
                                                                        {"url": receiver.url, "body": {"deal": 1}})
    assert escalation.agent_reason == "I will tell the CRM."
    invalid = decide(acme, escalation.pk, "approve", committed, arguments={"url": "not a url"})
    assert invalid.status_code == 400 and "arguments" in invalid.json()["error"]["details"]

    edited = {"url": receiver.url, "body": {"deal": 2}}
    assert decide(acme, escalation.pk, "approve", committed, arguments=edited).status_code == 200
    assert AgentTask.objects.get(pk=run.pk).status == "queued"
    run = step(run.pk, committed)

    assert run.status == "succeeded", run.error
    assert receiver.received == [{"body": {"deal": 2}, "idempotency_key": f"{run.pk}:2"}]
    tool_step = run.steps.get(seq=2)
    assert (tool_step.requested_arguments["body"], tool_step.arguments["body"]) == ({"deal": 1}, {"deal": 2})
    approved = AuditEvent.objects.get(action="escalation.approved", object_id=str(escalation.pk))
    assert approved.after["edited_arguments"] == edited


def test_a_reply_reaches_the_model_instead_of_the_tool(acme, model, committed, receiver):
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    model.reply(text="Understood, I will wait.")
    run = start(acme, committed)
    escalation = Escalation.objects.get(task_id=run.pk, status="open")

    assert decide(acme, escalation.pk, "reply", committed, message="Not before Monday.").status_code == 200
    run = step(run.pk, committed)

    assert run.status == "succeeded" and receiver.received == []
    assert "Not before Monday." in tool_messages(model.requests[1])[0]["content"]


@pytest.mark.parametrize("stop_run", [False, True])
def test_a_rejected_call_is_told_to_the_model_or_stops_the_run(acme, model, committed, receiver, stop_run):
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    model.reply(text="Fine, I will not.")
    run = start(acme, committed)
    escalation = Escalation.objects.get(task_id=run.pk, status="open")

    assert decide(acme, escalation.pk, "reject", committed, stop_run=stop_run).status_code == 200
    run = step(run.pk, committed)

    assert receiver.received == []
    if stop_run:
        assert run.status == "failed" and "stopped" in run.error and len(model.requests) == 1
    else:
        assert run.status == "succeeded"
        assert "rejected this call" in tool_messages(model.requests[1])[0]["content"]


def test_two_calls_in_one_turn_one_allowed_one_escalated(acme, model, committed, receiver):
    model.reply(tool_calls=[("memory_search", {"query": "crm"}), ("webhook.post", {"url": receiver.url})])
    model.reply(text="Done.")
    run = start(acme, committed)

    assert run.status == "waiting_for_approval"
    assert [(s.tool, s.status) for s in run.steps.filter(kind="tool")] == [
        ("memory_search", "done"), ("webhook.post", "awaiting_approval")]
    escalation = Escalation.objects.get(task_id=run.pk, status="open")
    decide(acme, escalation.pk, "approve", committed)
    run = step(run.pk, committed)

    assert run.status == "succeeded" and len(receiver.received) == 1
    assert [m["tool_call_id"] for m in tool_messages(model.requests[1])] == [
        s.tool_call_id for s in run.steps.filter(kind="tool")]


def test_max_steps_ends_the_run_with_a_clear_reason(acme, model, committed):
    for _ in range(3):
        model.reply(tool_calls=[("memory_search", {"query": "more"})])
    run = start(acme, committed, max_steps=2)

    assert run.status == "failed" and "max_steps reached" in run.error
    assert len(model.requests) == 2


def test_max_cost_ends_the_run_and_the_budget_is_settled_to_what_it_cost(acme, model, committed, settings):
    settings.LLM_PRICES = {"loopback-model": {"input": 1000000, "output": 1000000, "cached": 0}}  # 1 a token
    acme.set_policy(daily_budget=1000)
    model.reply(tool_calls=[("memory_search", {"query": "a"})], usage=(3, 2))
    model.reply(tool_calls=[("memory_search", {"query": "b"})], usage=(3, 2))
    run = start(acme, committed, max_cost=5)

    assert run.status == "failed" and "max_cost reached" in run.error
    assert run.actual_cost == Decimal("5")
    from governance.models import DailyUsage

    assert DailyUsage.objects.get(tenant_id=acme.tenant_id).committed == Decimal("5")


def test_cancelling_a_paused_run_closes_its_escalation(acme, model, committed, receiver):
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    run = start(acme, committed)
    with committed():
        response = acme.submitter_api.post(f"/api/tasks/{run.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Escalation.objects.get(task_id=run.pk).status == "cancelled"


def test_without_an_llm_agent_run_is_unavailable_and_refused(acme, settings):
    settings.LLM_BASE_URL = ""
    settings.LLM_API_KEY = ""
    types = {t["name"]: t for t in acme.submitter_api.get("/api/task-types").json()}
    assert types["agent.run"]["available"] is False and "LLM_" in types["agent.run"]["unavailable_reason"]
    response = acme.submitter_api.post("/api/tasks", {"task_type": "agent.run",
                                                      "parameters": {"instructions": "hi"}}, format="json")
    assert response.status_code == 400 and "LLM_" in json.dumps(response.json()["error"]["details"])
    assert not AgentTask.objects.filter(task_type="agent.run").exists()


def test_the_transcript_is_in_the_task_and_no_other_tenant_sees_it(acme, globex, model, committed):
    model.reply(text="Nothing to do.")
    run = start(acme, committed)
    detail = acme.submitter_api.get(f"/api/tasks/{run.pk}").json()
    assert [s["kind"] for s in detail["steps"]] == ["model"] and detail["steps"][0]["text"] == "Nothing to do."
    assert globex.submitter_api.get(f"/api/tasks/{run.pk}").status_code == 404
    assert AgentRunStep.objects.filter(task__tenant_id=globex.tenant_id).count() == 0


def test_an_unknown_tool_or_a_bad_memory_id_is_refused_at_submission(acme, model):
    response = acme.submitter_api.post("/api/tasks", {"task_type": "agent.run", "parameters": {
        "instructions": "hi", "tools": ["memory_search", "launch_rockets"],
        "context": {"memory_ids": ["not-an-id"]}}}, format="json")
    assert response.status_code == 400
    details = json.dumps(response.json()["error"]["details"])
    assert "launch_rockets" in details and "not-an-id" in details
    assert not AgentTask.objects.filter(task_type="agent.run").exists()


def test_a_model_that_stays_down_fails_the_run_with_a_clear_reason_after_its_retries(acme, model, committed,
                                                                                     settings):
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_THRESHOLD = 100
    for _ in range(3):
        model.fail(503)
    run = start(acme, committed)
    assert run.status == "queued" and run.attempts == 1  # retried with backoff, from its last step
    run = step(run.pk, committed)
    run = step(run.pk, committed)
    assert run.status == "failed" and "503" in run.error
    assert len(model.requests) == 3


def test_the_same_run_speaks_anthropic_messages(acme, model, committed, settings, receiver):
    settings.LLM_PROVIDER = "anthropic"
    acme.set_policy(rules={"tool:webhook.post": "allow"})
    model.reply(text="Posting.", tool_calls=[("webhook.post", {"url": receiver.url, "body": {"a": 1}})])
    model.reply(text="Posted.")
    run = start(acme, committed)

    assert run.status == "succeeded", run.error
    assert receiver.received == [{"body": {"a": 1}, "idempotency_key": f"{run.pk}:2"}]
    second = model.requests[1]
    assert second.path.endswith("/messages")
    results = [block for message in second.body["messages"] if isinstance(message["content"], list)
               for block in message["content"] if block.get("type") == "tool_result"]
    assert len(results) == 1 and "200" in json.dumps(results[0])


def test_the_admin_shows_the_pending_call_and_approves_it_with_edited_arguments(acme, model, committed, receiver,
                                                                                client):
    model.reply(text="I will tell the CRM.", tool_calls=[("webhook.post", {"url": receiver.url, "body": {"d": 1}})])
    model.reply(text="Told it.")
    run = start(acme, committed)
    escalation = Escalation.objects.get(task_id=run.pk, status="open")
    client.force_login(acme.approver)
    url = f"/admin/governance/escalation/{escalation.pk}/change/"

    page = client.get(url).content.decode()
    assert 'id="tool-call-summary"' in page and "webhook.post" in page and "I will tell the CRM." in page
    assert 'id="id_arguments"' in page and 'id="reply-button"' in page and 'id="id_stop_run"' in page
    assert page.count('class="run-step"') == 2  # the model's turn and the pending call

    edited = json.dumps({"url": receiver.url, "body": {"d": 2}})
    with committed():
        response = client.post(f"/admin/governance/escalation/{escalation.pk}/decide/",
                               {"decision": "approve", "reason": "amount fixed", "arguments": edited}, follow=True)
    assert "Approved: the agent" in response.content.decode()
    run = step(run.pk, committed)
    assert run.status == "succeeded" and receiver.received[0]["body"] == {"d": 2}


@pytest.mark.parametrize("arguments, problem", [
    ("[" * 10000 + "]" * 10000, "nested too deeply"),
    ('{"url": "http://example.com/\\u0000"}', "NUL characters"),
    ('{"url": "a", "url": "b"}', "appears twice"),
    ("{not json", "Not valid JSON"),
])
def test_the_admin_refuses_arguments_postgres_could_not_store(acme, model, committed, receiver, client, arguments,
                                                              problem):
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    run = start(acme, committed)
    escalation = Escalation.objects.get(task_id=run.pk, status="open")
    client.force_login(acme.approver)

    response = client.post(f"/admin/governance/escalation/{escalation.pk}/decide/",
                           {"decision": "approve", "reason": "edited", "arguments": arguments}, follow=True)

    assert response.status_code == 200 and problem in response.content.decode()
    assert Escalation.objects.get(pk=escalation.pk).status == "open"


def test_a_call_nobody_decides_times_out_by_the_ladder_and_the_model_is_told(acme, model, committed, receiver):
    from datetime import timedelta

    from django.utils import timezone

    from governance import services as governance

    acme.set_policy(ladder=[{"group": "", "timeout_seconds": 60}, {"group": "", "timeout_seconds": 60}])
    model.reply(tool_calls=[("webhook.post", {"url": receiver.url})])
    model.reply(text="Nobody answered; I did not post.")
    run = start(acme, committed)
    first = Escalation.objects.get(task_id=run.pk, status="open")
    for _ in range(2):  # the next tier, then the ladder's default (reject)
        Escalation.objects.filter(status="open").update(deadline=timezone.now() - timedelta(seconds=1))
        with committed():
            governance.escalations_expire_due()
    assert Escalation.objects.get(previous=first).status == "expired"
    assert AgentTask.objects.get(pk=run.pk).status == "queued"

    run = step(run.pk, committed)
    assert run.status == "succeeded" and receiver.received == []
    assert "before its deadline" in tool_messages(model.requests[1])[0]["content"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.django_db(transaction=True)  # the model's thread cancels on its own connection: it must see the run
def test_cancelling_a_running_run_stops_it_at_its_next_step(acme, model, monkeypatch):
    """The request arrives while the model is thinking: the run stops before its next step."""
    # Committed, the run would be published to the session's worker, if one is up; it runs here instead.
    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)

    def cancel_while_thinking(body):  # runs in the fake model's thread: its own connection, closed after
        from django.db import connection

        try:
            AgentTask.objects.filter(task_type="agent.run").update(cancel_requested=True)  # as task_cancel does
        finally:
            connection.close()
        return "I would go on, but I was cancelled."

    model.reply(tool_calls=[("memory_search", {"query": "a"})], delay=0.6)
    model.reply(text=cancel_while_thinking, tool_calls=[("memory_search", {"query": "b"})], delay=0.6)
    acme.set_policy(rules={"agent.run": "allow"})
    task_id = acme.submit(task_type="agent.run", parameters={"instructions": "Search."})["task_id"]

    services.task_execute(task_id=task_id)

    run = AgentTask.objects.get(pk=task_id)
    assert run.status == "cancelled"
    assert not run.steps.filter(tool_call_id__isnull=False, status="done", seq__gt=3).exists()
    assert len(model.requests) == 2
