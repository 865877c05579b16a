"""The `research` task type: answers from the tenant's memories, with a chat model or extractively.

The LLM is the fake model server on loopback (tests/fakes/llm.py) speaking OpenAI's chat-completions
format, reached through emma.llm. Tasks are submitted through the API (so governance decides on them) and
run with the lifecycle's own service."""

import json
import re

import pytest

import emma.task_types.research  # noqa: F401  (registers the task type, as emma.task_types does)
from emma import services as emma_services
from emma.models import AgentTask
from memory import services as memory_services
from memory.models import EpisodicEvent
from tests.memory.test_memory_api import NOTES, PARAPHRASES

pytestmark = pytest.mark.django_db

UUID = re.compile(r"\[([0-9a-f-]{36})\]")


@pytest.fixture
def acme_notes(acme):
    return [memory_services.memory_store(tenant_id=acme.tenant_id, content=note, source="handbook").id
            for note in NOTES]


def run(task_id) -> AgentTask:
    """Run the task once, in this process, as a worker would."""
    emma_services.task_execute(task_id=task_id)
    return AgentTask.objects.get(pk=task_id)


def task_types(client) -> dict:
    return {t["name"]: t for t in client.get("/api/task-types").json()}


# --- without an LLM: extractive -----------------------------------------------------------------


def test_without_an_llm_the_answer_quotes_the_most_relevant_sentences_with_their_ids(acme, acme_notes, settings):
    settings.LLM_BASE_URL = ""
    question, answer_note = PARAPHRASES[0]
    submitted = acme.submit(task_type="research", parameters={"question": question, "limit": 3})
    assert submitted["decision"] == "allow"  # low risk, nothing leaves the system
    task = run(submitted["task_id"])
    assert task.status == "succeeded", task.error
    result = task.result
    assert result["mode"] == "extractive"
    assert result["sentences"][0]["memory_id"] == acme_notes[answer_note]
    assert result["sentences"][0]["text"] == NOTES[answer_note]
    assert result["answer"].startswith(f"{NOTES[answer_note]} [{acme_notes[answer_note]}]")
    assert result["citations"][0] == acme_notes[answer_note]
    assert set(result["citations"]) <= set(acme_notes)
    assert len(result["memories"]) == 3 and result["question"] == question


def test_the_answer_is_stored_as_an_episodic_event_of_the_task(acme, acme_notes, settings):
    settings.LLM_BASE_URL = ""
    submitted = acme.submit(task_type="research", parameters={"question": PARAPHRASES[1][0]})
    task = run(submitted["task_id"])
    event = EpisodicEvent.objects.get(task_id=task.pk)
    assert (event.tenant_id, event.kind, event.source) == (acme.tenant_id, "task_result", "research")
    assert event.content == task.result["answer"]
    assert event.metadata["citations"] == task.result["citations"]
    assert event.metadata["question"] == PARAPHRASES[1][0]


def test_another_tenant_researching_the_same_question_finds_nothing(acme, globex, acme_notes, settings):
    settings.LLM_BASE_URL = ""
    task = run(globex.submit(task_type="research", parameters={"question": PARAPHRASES[2][0]})["task_id"])
    assert task.status == "succeeded"
    assert task.result["citations"] == [] and task.result["mode"] == "none"
    assert not any(item_id in json.dumps(task.result) for item_id in acme_notes)


def test_parameters_are_validated(acme):
    for parameters in ({}, {"question": ""}, {"question": "x", "limit": 0}, {"question": "x", "limit": 21},
                       {"question": "x", "depth": 3}):
        response = acme.submitter_api.post("/api/tasks", {"task_type": "research", "parameters": parameters},
                                           format="json")
        assert response.status_code == 400, parameters


def test_risk_is_low_without_an_llm_and_medium_with_one(acme, settings):
    settings.LLM_BASE_URL = ""
    research = task_types(acme.submitter_api)["research"]
    assert (research["risk"], research["external_side_effects"]) == ("low", False)
    settings.LLM_BASE_URL = "http://127.0.0.1:9"
    research = task_types(acme.submitter_api)["research"]
    assert (research["risk"], research["external_side_effects"]) == ("medium", True)


# --- with an LLM: the fake model server on loopback ----------------------------------------------


def cite_the_first_memory(body) -> str:
    """What the model answers: the freeze dates, citing the first memory of its prompt."""
    first_id = UUID.search(body["messages"][-1]["content"]).group(1)
    return f"Deployments are frozen from December 20th to January 3rd [{first_id}]."


@pytest.fixture
def llm(fake_llm, settings):
    settings.LLM_API_KEY = "sk-research"
    settings.LLM_MODEL = "loopback-model"
    return fake_llm


def submit_allowed(team, question):
    """With an LLM the task is medium risk with external effects: supervised autonomy escalates it."""
    from django.test import TestCase

    submitted = team.submit(task_type="research", parameters={"question": question, "limit": 4})
    assert submitted["decision"] == "escalate"
    with TestCase.captureOnCommitCallbacks(execute=True):  # the approval queues the task after its commit
        response = team.approver_api.post(f"/api/escalations/{submitted['escalation_id']}/approve",
                                          {"reason": "fine to send to the model"}, format="json")
    assert response.status_code == 200, response.content
    return submitted["task_id"]


def test_with_an_llm_the_model_answers_from_the_memories_and_cites_them(acme, acme_notes, llm):
    question, answer_note = PARAPHRASES[0]
    llm.reply(text=cite_the_first_memory, usage=(1000, 20))
    task = run(submit_allowed(acme, question))
    assert task.status == "succeeded", task.error
    assert task.risk == "medium"
    assert task.result["mode"] == "llm" and task.result["model"] == "loopback-model"
    assert task.result["citations"] == [acme_notes[answer_note]]
    cited = acme_notes[answer_note]
    assert task.result["answer"] == f"Deployments are frozen from December 20th to January 3rd [{cited}]."
    assert task.result["usage"]["input_tokens"] == 1000 and task.result["usage"]["output_tokens"] == 20
    (request,) = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-research"
    assert request.body["model"] == "loopback-model"
    prompt = request.body["messages"][-1]["content"]
    assert f"[{acme_notes[answer_note]}] {NOTES[answer_note]}" in prompt
    assert question in prompt
    assert len(UUID.findall(prompt)) == 4  # the limit
    assert request.body["messages"][0]["role"] == "system"
    event = EpisodicEvent.objects.get(task_id=task.pk)
    assert event.content == task.result["answer"] and event.metadata["mode"] == "llm"


def test_a_base_url_ending_in_v1_is_used_as_given(acme, acme_notes, llm, settings):
    settings.LLM_BASE_URL = settings.LLM_BASE_URL + "/v1/"
    llm.reply(text=cite_the_first_memory)
    task = run(submit_allowed(acme, PARAPHRASES[0][0]))
    assert task.status == "succeeded", task.error
    assert llm.requests[0].path == "/v1/chat/completions"


def test_an_unavailable_llm_is_retried_by_the_client_then_by_the_task(acme, acme_notes, llm, settings):
    settings.LLM_MAX_RETRIES = 3
    llm.fail(503, retry_after=0, times=4)
    task = run(submit_allowed(acme, PARAPHRASES[0][0]))
    assert len(llm.requests) == 4  # the client's own retries first
    assert task.status == "queued"  # then back in the queue for another attempt
    assert "503" in task.error and task.attempts == 1
    assert not EpisodicEvent.objects.filter(task_id=task.pk).exists()


def test_an_llm_timeout_is_retried(acme, acme_notes, llm, settings):
    settings.LLM_TIMEOUT_SECONDS = 0.5
    settings.LLM_MAX_RETRIES = 0  # the task's retry is the point here
    llm.reply(text="too late", delay=3)
    task = run(submit_allowed(acme, PARAPHRASES[0][0]))
    assert task.status == "queued"
    assert "Timeout" in task.error


def test_an_llm_refusing_the_request_fails_the_task_without_retrying(acme, acme_notes, llm):
    llm.fail(400, body={"error": {"message": "model not found", "type": "invalid_request_error"}})
    task = run(submit_allowed(acme, PARAPHRASES[0][0]))
    assert task.status == "failed"
    assert "400" in task.error and "model not found" in task.error
    assert len(llm.requests) == 1
