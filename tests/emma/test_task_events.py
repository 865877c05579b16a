"""GET /api/tasks/{id}/events: a task's run as Server-Sent Events, read from the rows PostgreSQL holds, so a
client that reconnects with Last-Event-ID gets exactly what came after it.

The stream is consumed in this thread, through the test client; it sees the test's own transaction. A
stream left open is not closed by hand: HttpResponse.close() would close the test's database connection."""

import json

import pytest
from django.utils import timezone

from emma import events, services
from emma.models import AgentRunStep, AgentTask, TaskEvent
from governance.models import Escalation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch):
    monkeypatch.setattr(events, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(events, "MAX_STREAM_SECONDS", 20.0)


def url(task_id) -> str:
    return f"/api/tasks/{task_id}/events"


def parse(chunk: bytes) -> dict | None:
    """One SSE message (a chunk of the stream is one message); None for a comment or the retry hint."""
    fields = {}
    for line in chunk.decode().strip().split("\n"):
        name, _, value = line.partition(": ")
        fields[name] = value
    if "event" not in fields:
        return None
    return {"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])}


def read_all(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    return [message for chunk in response.streaming_content if (message := parse(chunk))]


def read(stream, count: int) -> list[dict]:
    messages = []
    while len(messages) < count:
        message = parse(next(stream))
        if message:
            messages.append(message)
    return messages


def start_run(team, committed, model, *, tools):
    rules = team.admin_api.get("/api/governance/policy").json()["policy"]["rules"]
    team.set_policy(rules={**rules, "agent.run": "allow"})
    body = team.submit(task_type="agent.run", parameters={"instructions": "Tell the CRM.", "tools": tools})
    with committed():
        services.task_execute(task_id=body["task_id"])
    return body["task_id"]


@pytest.fixture
def model(fake_llm, settings):
    settings.LLM_MODEL = "loopback-model"
    return fake_llm


def test_a_paused_and_resumed_run_streams_every_step_in_order_and_ends_with_finished(acme, model, committed):
    model.reply(text="I will tell the CRM.", tool_calls=[("webhook.post", {"url": "https://crm.example.com/h"})],
                usage=(100, 20))
    model.reply(text="The approver answered instead; done.", usage=(150, 10))
    task_id = start_run(acme, committed, model, tools=["webhook.post"])
    escalation = Escalation.objects.get(task_id=task_id, status="open")
    with committed():
        response = acme.approver_api.post(f"/api/escalations/{escalation.pk}/reply",
                                          {"reason": "not yet", "message": "Use the sandbox first"}, format="json")
    assert response.status_code == 200, response.content
    with committed():
        services.task_execute(task_id=task_id)
    assert AgentTask.objects.get(pk=task_id).status == "succeeded"

    messages = read_all(acme.submitter_api.get(url(task_id)))

    assert [m["event"] for m in messages] == [
        "status", "status", "model", "tool_call", "status", "awaiting_approval", "status", "resumed", "status",
        "tool_result", "model", "status", "finished"]
    assert [m["data"]["to"] for m in messages if m["event"] == "status"] == [
        "queued", "running", "waiting_for_approval", "queued", "running", "succeeded"]
    first_model = messages[2]["data"]
    assert (first_model["text"], first_model["input_tokens"], first_model["output_tokens"]) == (
        "I will tell the CRM.", 100, 20)
    tool_call = messages[3]["data"]
    assert (tool_call["tool"], tool_call["arguments"], tool_call["decision"]) == (
        "webhook.post", {"url": "https://crm.example.com/h"}, "escalate")
    assert messages[5]["data"]["escalation_id"] == str(escalation.pk) and messages[5]["data"]["tool"] == "webhook.post"
    assert "Use the sandbox first" in messages[9]["data"]["content"]
    assert messages[-1]["data"]["status"] == "succeeded"
    cursors = [events.cursor_parse(task_id=task_id, last_event_id=m["id"]) for m in messages]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)


def test_a_reconnect_with_last_event_id_gets_exactly_the_rest(acme, model, committed):
    model.reply(tool_calls=[("memory_store", {"content": "The VPN certificate expires in May."})])
    model.reply(text="Stored the note.")
    task_id = start_run(acme, committed, model, tools=["memory_store"])
    everything = read_all(acme.submitter_api.get(url(task_id)))
    assert len(everything) >= 6

    by_header = read_all(acme.submitter_api.get(url(task_id), HTTP_LAST_EVENT_ID=everything[1]["id"]))
    by_query = read_all(acme.submitter_api.get(url(task_id), {"last_event_id": everything[1]["id"]}))
    after_the_end = read_all(acme.submitter_api.get(url(task_id), HTTP_LAST_EVENT_ID=everything[-1]["id"]))

    assert by_header == everything[2:]
    assert by_query == everything[2:]
    assert after_the_end == []


def test_a_tool_step_completed_after_the_client_connected_arrives_as_its_result(acme, monkeypatch):
    monkeypatch.setattr(events, "SETTLE", timezone.timedelta(0))
    task_id = acme.submit()["task_id"]
    AgentTask.objects.filter(pk=task_id).update(status="running")
    TaskEvent.objects.create(task_id=task_id, from_status="queued", to_status="running", actor="worker")
    AgentRunStep.objects.create(task_id=task_id, seq=1, turn=1, kind="model", text="Let me look.")
    tool = AgentRunStep.objects.create(task_id=task_id, seq=2, turn=1, kind="tool", tool="memory_search",
                                       arguments={"query": "vpn"}, status="approved", decision="allow")
    response = acme.submitter_api.get(url(task_id))
    stream = iter(response.streaming_content)
    seen = read(stream, 4)
    assert [m["event"] for m in seen] == ["status", "status", "model", "tool_call"]

    AgentRunStep.objects.filter(pk=tool.pk).update(status="done", content="3 memories", finished_at=timezone.now())
    result = read(stream, 1)[0]

    assert result["event"] == "tool_result"
    assert (result["data"]["seq"], result["data"]["content"]) == (2, "3 memories")
    reconnected = acme.submitter_api.get(url(task_id), HTTP_LAST_EVENT_ID=seen[-1]["id"])
    assert read(iter(reconnected.streaming_content), 1) == [result]


def test_a_final_task_streams_its_history_and_ends_with_finished(acme):
    task_id = acme.submit()["task_id"]
    services.task_execute(task_id=task_id)

    messages = read_all(acme.submitter_api.get(url(task_id)))

    assert [m["event"] for m in messages] == ["status", "status", "status", "finished"]
    assert messages[-1]["data"]["status"] == "succeeded"
    assert messages[-1]["data"]["result"] == AgentTask.objects.get(pk=task_id).result


def test_a_quiet_stream_sends_keep_alive_comments(acme, monkeypatch):
    monkeypatch.setattr(events, "KEEP_ALIVE_SECONDS", 0.0)
    task_id = acme.submit()["task_id"]
    response = acme.submitter_api.get(url(task_id))
    stream = iter(response.streaming_content)
    chunks = [next(stream) for _ in range(4)]
    assert b": keep-alive\n\n" in chunks


def test_another_tenants_task_is_not_found_and_anonymous_callers_are_refused(acme, globex, api_client):
    task_id = acme.submit()["task_id"]

    other = globex.admin_api.get(url(task_id))
    anonymous = api_client.get(url(task_id), HTTP_ACCEPT="text/event-stream")

    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert anonymous.status_code == 401


@pytest.mark.parametrize("last_event_id", ["garbage", "1-x1-0", "99999999999999999999-e1-0", "1700000000000000-e1-0",
                                           "1-s99999999999999999999-0"])
def test_a_malformed_or_unknown_last_event_id_is_a_400(acme, last_event_id):
    task_id = acme.submit()["task_id"]

    response = acme.submitter_api.get(url(task_id), HTTP_LAST_EVENT_ID=last_event_id, HTTP_ACCEPT="text/event-stream")

    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["error"]["details"]


def test_an_event_id_of_another_task_is_a_400(acme):
    first, second = acme.submit()["task_id"], acme.submit()["task_id"]
    services.task_execute(task_id=first)
    event_id = read_all(acme.submitter_api.get(url(first)))[0]["id"]

    assert acme.submitter_api.get(url(second), HTTP_LAST_EVENT_ID=event_id).status_code == 400
