"""Agent help with a draft: "revise this selection" and "draft from a brief" run as agent.run tasks (the model
played by the loopback fake), governed like any task, and their answer becomes a revision by the agent,
merged with what was saved meanwhile, or left on the request when it cannot be applied.

Most tests run the task in this process as the worker would (`task_execute`) and apply its answer with the
Celery task's own code; the first runs it in a process of its own and the real worker applies the answer."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from drafting import assist
from drafting.models import AssistRequest, DraftEvent, Revision
from drafting.tasks import apply_assist
from emma import services
from emma.models import AgentTask
from memory import services as memory_services
from tests.conftest import CHILD_SETTINGS, ROOT, subprocess_env, wait_for
from tests.drafting.conftest import create, save, share
from tests.fakes.llm import settings_for

pytestmark = pytest.mark.django_db

BASE = "Intro line\n\nMiddle line\n\nClosing line\n"
MIDDLE = (BASE.index("Middle line"), BASE.index("Middle line") + len("Middle line"))


@pytest.fixture
def model(fake_llm, settings):
    settings.LLM_MODEL = "loopback-model"
    return fake_llm


def user_text(request) -> str:
    return "\n".join(m["content"] for m in request.body["messages"] if m["role"] == "user")


def allow_agent_runs(team):
    team.set_policy(rules={"agent.run": "allow"})


def ask(team, draft_id, client=None, **body):
    return (client or team.submitter_api).post(f"/api/drafts/{draft_id}/assist", body, format="json")


def revise_middle(team, draft_id, committed, instruction="Make it livelier", **body):
    with committed():
        response = ask(team, draft_id, action="revise", instruction=instruction,
                       selection={"start": MIDDLE[0], "end": MIDDLE[1]}, **body)
    assert response.status_code == 202, response.content
    return response.json()


def run_and_apply(task_id, committed):
    with committed():
        services.task_execute(task_id=task_id)
    with committed():
        apply_assist(str(task_id))
    return AssistRequest.objects.get(task_id=task_id)


def run_in_child(task_id) -> None:
    """The run in a process of its own configured with the fake model, as a worker would run it (the session's
    worker has no model: configuring one there would turn every chat request of other tests into a run)."""
    env = subprocess_env(DJANGO_SETTINGS_MODULE="tests.process_settings",
                         EMMA_TEST_CHILD_SETTINGS=json.dumps({**CHILD_SETTINGS, **settings_for("openai"),
                                                              "LLM_MODEL": "loopback-model"}))
    script = f"import django; django.setup(); from emma import services; services.task_execute(task_id={str(task_id)!r})"
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)


@pytest.mark.django_db(transaction=True)
def test_an_agent_revise_runs_and_the_worker_applies_its_answer_as_a_revision_by_the_agent(
        acme, model, celery_worker_process, monkeypatch):
    allow_agent_runs(acme)
    draft = create(acme.submitter_api, content=BASE, tone="warm", audience="customers")
    model.reply(text="A **lively** middle line", usage=(120, 12))
    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)  # the run is the child's

    response = ask(acme, draft["id"], action="revise", instruction="Make it livelier",
                   selection={"start": MIDDLE[0], "end": MIDDLE[1]})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["decision"] == "allow" and body["assist"]["status"] == "pending"
    run_in_child(body["task_id"])  # its end's hook hands the answer to the worker (drafting.apply_assist)
    applied = wait_for(lambda: AssistRequest.objects.filter(task_id=body["task_id"], status="applied").first(),
                       timeout=60, message="the answer applied")
    revision = Revision.objects.get(draft_id=draft["id"], number=applied.revision)
    assert revision.content == BASE.replace("Middle line", "A **lively** middle line")
    assert revision.kind == "agent" and revision.author == acme.submitter and applied.merged is False
    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.task_type == "agent.run" and task.actual_cost is not None and task.submitter == acme.submitter
    sent = user_text(model.requests[0])
    assert "Middle line" in sent and "Make it livelier" in sent and "warm" in sent and "customers" in sent
    event = DraftEvent.objects.filter(draft_id=draft["id"], kind="revision").order_by("-id").first()
    assert event.data["kind"] == "agent" and event.data["number"] == revision.number
    listed = acme.submitter_api.get(f"/api/drafts/{draft['id']}/assists").json()["results"]
    assert [(a["status"], a["task_status"], a["revision"]) for a in listed] == [("applied", "succeeded", 2)]


def test_a_revise_is_merged_with_an_edit_of_another_paragraph_made_meanwhile(acme, model, committed, draft):
    allow_agent_runs(acme)
    model.reply(text="Middle, revised")
    asked = revise_middle(acme, draft["id"], committed)
    assert save(acme.submitter_api, draft["id"], BASE.replace("Closing line", "Closing, edited"), 1).status_code == 201

    applied = run_and_apply(asked["task_id"], committed)

    assert applied.status == "applied" and applied.merged is True and applied.revision == 3
    revision = Revision.objects.get(draft_id=draft["id"], number=3)
    assert revision.content == "Intro line\n\nMiddle, revised\n\nClosing, edited\n"
    assert (revision.kind, revision.base_number, revision.their_number) == ("agent", 1, 2)


def test_a_revise_of_lines_edited_meanwhile_is_a_conflict_left_on_the_request(acme, model, committed, draft):
    allow_agent_runs(acme)
    model.reply(text="Middle, by the agent")
    asked = revise_middle(acme, draft["id"], committed)
    mine = BASE.replace("Middle line", "Middle, by a person")
    assert save(acme.submitter_api, draft["id"], mine, 1).status_code == 201

    applied = run_and_apply(asked["task_id"], committed)

    assert applied.status == "conflict" and applied.result == "Middle, by the agent" and applied.revision is None
    assert "changed the same part" in applied.note
    assert Revision.objects.filter(draft_id=draft["id"]).count() == 2
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()["content"] == mine


def test_a_draft_from_a_brief_replaces_the_content(acme, model, committed):
    allow_agent_runs(acme)
    draft = create(acme.submitter_api, content="")
    memory_services.memory_store(tenant_id=acme.tenant_id, content="The launch is on 4 March in Lisbon.")
    model.reply(text="```markdown\n# Launch\n\nWe launch on 4 March.\n```")
    with committed():
        response = ask(acme, draft["id"], action="draft", brief="Announce the launch date")
    assert response.status_code == 202, response.content

    applied = run_and_apply(response.json()["task_id"], committed)

    assert applied.status == "applied" and applied.revision == 2
    assert Revision.objects.get(draft_id=draft["id"], number=2).content == "# Launch\n\nWe launch on 4 March.\n"
    sent = user_text(model.requests[0])
    assert "Announce the launch date" in sent and "4 March in Lisbon" in sent  # the tenant's memory, as context


def test_an_escalated_run_waits_for_approval_then_applies(acme, model, committed, draft):
    acme.set_policy(rules={"agent.run": "escalate"})
    asked = revise_middle(acme, draft["id"], committed)
    assert asked["task_status"] == "pending_approval" and asked["escalation_id"]
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}/assists").json()["results"][0]["task_status"] == \
        "pending_approval"
    model.reply(text="Middle, approved")
    with committed():
        decided = acme.approver_api.post(f"/api/escalations/{asked['escalation_id']}/approve",
                                         {"reason": "fine"}, format="json")
    assert decided.status_code == 200, decided.content

    applied = run_and_apply(asked["task_id"], committed)

    assert applied.status == "applied"
    assert Revision.objects.get(draft_id=draft["id"], number=2).content == BASE.replace("Middle line",
                                                                                         "Middle, approved")


def test_a_rejected_run_marks_the_request_and_changes_nothing(acme, committed, draft, model):
    acme.set_policy(rules={"agent.run": "escalate"})
    asked = revise_middle(acme, draft["id"], committed)
    with committed():
        acme.approver_api.post(f"/api/escalations/{asked['escalation_id']}/reject", {"reason": "no"}, format="json")
    with committed():
        apply_assist(asked["task_id"])
    assert AssistRequest.objects.get(task_id=asked["task_id"]).status == "rejected"
    assert Revision.objects.filter(draft_id=draft["id"]).count() == 1


def test_a_run_the_policy_denies_is_answered_as_the_task_api_does_and_recorded(acme, model, committed, draft):
    acme.set_policy(rules={"agent.run": "deny"})
    asked = revise_middle(acme, draft["id"], committed)
    assert asked["decision"] == "deny" and asked["task_status"] == "rejected"
    assert asked["assist"]["status"] == "rejected"


def test_applying_twice_makes_one_revision(acme, model, committed, draft):
    allow_agent_runs(acme)
    model.reply(text="Middle, once")
    asked = revise_middle(acme, draft["id"], committed)
    run_and_apply(asked["task_id"], committed)

    assert apply_assist(asked["task_id"]) is False
    assert assist.assist_apply(task_id=asked["task_id"]) is None
    assert Revision.objects.filter(draft_id=draft["id"], kind="agent").count() == 1


def test_a_draft_no_longer_editable_keeps_the_answer_on_the_request(acme, model, committed, draft):
    allow_agent_runs(acme)
    model.reply(text="Middle, late")
    asked = revise_middle(acme, draft["id"], committed)
    from drafting.models import Draft

    Draft.objects.filter(pk=draft["id"]).update(status="in_review")  # as a submit would leave it

    applied = run_and_apply(asked["task_id"], committed)

    assert applied.status == "not_applied" and applied.result == "Middle, late"
    assert Revision.objects.filter(draft_id=draft["id"]).count() == 1


def test_another_tenant_gets_404(acme, globex, draft):
    response = ask(acme, draft["id"], client=globex.admin_api, action="draft", brief="Anything")
    assert response.status_code == 404
    assert globex.admin_api.get(f"/api/drafts/{draft['id']}/assists").status_code == 404


def test_viewers_and_commenters_cannot_ask(acme, draft, fake_llm):
    share(acme, draft["id"], approver="viewer")
    response = ask(acme, draft["id"], client=acme.approver_api, action="draft", brief="Anything")
    assert response.status_code == 403
    assert acme.approver_api.get(f"/api/drafts/{draft['id']}/assists").status_code == 200
    assert not AssistRequest.objects.exists() and not AgentTask.objects.exists()


def test_a_selection_outside_the_revision_or_missing_is_refused(acme, draft, fake_llm):
    assert ask(acme, draft["id"], action="revise", instruction="x", selection={"start": 5, "end": 500}
               ).status_code == 400
    missing = ask(acme, draft["id"], action="revise", instruction="x")
    assert missing.status_code == 400 and "selection" in missing.json()["error"]["details"]
    assert ask(acme, draft["id"], action="draft").status_code == 400  # no brief
    assert not AgentTask.objects.exists()


def test_assist_switched_off_in_the_configuration_is_refused(acme, draft, fake_llm):
    response = acme.admin_api.put("/api/config/drafting", {"content": {"assist_enabled": False},
                                                           "reason": "not yet"}, format="json")
    assert response.status_code == 200, response.content
    refused = ask(acme, draft["id"], action="draft", brief="Anything")
    assert refused.status_code == 403 and "assist_enabled" in refused.json()["error"]["message"]


def test_without_a_model_the_request_is_refused_as_the_task_api_refuses_it(acme, draft, settings):
    settings.LLM_BASE_URL = ""
    settings.LLM_PROVIDER = "openai"
    response = ask(acme, draft["id"], action="draft", brief="Anything")
    assert response.status_code == 400 and "task_type" in response.json()["error"]["details"]
    assert not AssistRequest.objects.exists()


def test_the_prompt_is_bounded_to_what_agent_run_takes(acme, draft):
    from drafting.models import Draft

    long = Draft.objects.get(pk=draft["id"])
    content = "word " * 20_000
    prompt = assist.assist_prompt(draft=long, action="draft", instruction="Shorten it", content=content)
    assert len(prompt) <= assist.MAX_INSTRUCTIONS and "Shorten it" in prompt
    prompt = assist.assist_prompt(draft=long, action="revise", instruction="Fix", content=content, start=50_000,
                                  end=50_000 + assist.MAX_SELECTION_CHARS)
    assert len(prompt) <= assist.MAX_INSTRUCTIONS and content[50_000:50_000 + 8000] in prompt


def test_a_run_whose_hook_was_lost_is_applied_by_the_sweep_once(acme, model, committed, draft):
    allow_agent_runs(acme)
    model.reply(text="Middle, swept")
    asked = revise_middle(acme, draft["id"], committed)
    with committed():
        services.task_execute(task_id=asked["task_id"])  # the run ends; its hook's message is never taken
    assert assist.assists_settle_lost() == 0  # too recent: the hook may still be on its way
    AgentTask.objects.filter(pk=asked["task_id"]).update(finished_at=AgentTask.objects.get(
        pk=asked["task_id"]).finished_at - timedelta(minutes=1))
    assert assist.assists_settle_lost() == 1
    assert AssistRequest.objects.get(task_id=asked["task_id"]).status == "applied"
    assert assist.assists_settle_lost() == 0
    assert Revision.objects.filter(draft_id=draft["id"], kind="agent").count() == 1
