"""Requests from chat with an LLM configured: a known sender's message starts an `agent.run` as that
person, and when the run ends its answer (or a short note of why there is none) goes back on the channel
it was asked on, to the requester's own linked address, once. A run paused on a tool call says what it
waits for. Without an LLM the request is an `assistant.request`, as before.

The run is executed in this process as a worker would (`task_execute`); `committed()` runs what was
deferred to after commit (emma's and governance's hooks), and the hooks' tasks on the integrations queue
are recorded and then run here, as that queue's worker would."""

import pytest

from emma import services as emma_services
from emma.models import AgentTask
from governance.models import Escalation
from integrations import chat_runs
from integrations.models import ChannelIdentity, ChatRequest, OutboundMessage
from tests.integrations.conftest import deliver_outbox, process_deliveries

pytestmark = pytest.mark.django_db

SAM_PHONE = "+15550100001"


@pytest.fixture
def published(monkeypatch):
    """What the hooks hand to the integrations queue, recorded instead of sent to the broker; `.run()`
    runs the chat tasks' bodies here, as that queue's worker would."""
    from integrations import tasks

    class Published(list):
        def run(self):
            done = [task.run(*args) for task, args in self if task in (tasks.answer_chat_request,
                                                                      tasks.tell_chat_requester_waiting)]
            self.clear()
            return done

    recorded = Published()
    for task in (tasks.answer_chat_request, tasks.tell_chat_requester_waiting, tasks.notify_approvers,
                 tasks.settle_escalation):
        monkeypatch.setattr(task, "apply_async", lambda args=(), task=task, **options: recorded.append((task, args)))
    return recorded


@pytest.fixture
def sam(acme, link):
    link(acme.submitter, "sms", "+1 (555) 010-0001")
    link(acme.submitter, "slack", "U0SAM")
    return acme.submitter


@pytest.fixture
def model(fake_llm, settings, acme):
    """The loopback model, and a policy that lets an agent run start without an approval."""
    settings.LLM_MODEL = "loopback-model"
    acme.set_policy(rules={"agent.run": "allow"})
    return fake_llm


def run(task_id, committed) -> AgentTask:
    with committed():
        emma_services.task_execute(task_id=task_id)
    return AgentTask.objects.get(pk=task_id)


def answers():
    return list(OutboundMessage.objects.filter(purpose="answer").order_by("pk"))


def test_with_an_llm_an_sms_request_starts_an_agent_run_answered_by_sms_once(webhooks, sam, model, committed,
                                                                             published, fake_vendors):
    model.reply(text="Staging is rebuilt every Sunday at 02:00 UTC.")
    webhooks.sms(sender=SAM_PHONE, text="When is staging rebuilt?")
    assert process_deliveries() == ["processed"]

    task = AgentTask.objects.get()
    assert (task.task_type, task.submitter, task.channel, task.decision) == ("agent.run", sam, "sms", "allow")
    assert task.parameters == {"instructions": "When is staging rebuilt?"}
    assert (ChatRequest.objects.get(task_id=task.pk).channel, ChatRequest.objects.get(task_id=task.pk).to) == (
        "sms", SAM_PHONE)
    assert "working on it" in OutboundMessage.objects.get(purpose="reply").text

    task = run(task.pk, committed)
    assert task.status == "succeeded", task.error
    assert answers() == []  # the finishing thread only hands the answer to the integrations queue
    assert published.run() == [True]
    answer, = answers()
    assert (answer.channel, answer.to, answer.recipient_id, answer.text) == (
        "sms", SAM_PHONE, sam.pk, "Staging is rebuilt every Sunday at 02:00 UTC.")

    chat_runs.on_task_finished(task=task)  # a repeated hook or redelivered task queues nothing new
    published.run()
    assert len(answers()) == 1
    deliver_outbox()
    sent = [r["body"] for r in fake_vendors.twilio.delivered()]
    assert [s["Body"] for s in sent if s["To"] == SAM_PHONE].count("Staging is rebuilt every Sunday at 02:00 UTC.") == 1


def test_a_slash_command_is_answered_in_slack(webhooks, sam, model, committed, published, fake_vendors):
    model.reply(text="Done: nothing to do.")
    webhooks.slack_command(user_id="U0SAM", text="Anything to do?")
    process_deliveries()
    task = run(AgentTask.objects.get(task_type="agent.run").pk, committed)
    published.run()
    assert task.status == "succeeded"
    assert [(a.channel, a.to, a.text) for a in answers()] == [("slack", "U0SAM", "Done: nothing to do.")]


def test_without_an_llm_a_request_is_an_assistant_request_as_before(webhooks, sam, published):
    webhooks.sms(sender=SAM_PHONE, text="When is staging rebuilt?")
    process_deliveries()
    task = AgentTask.objects.get()
    assert task.task_type == "assistant.request"
    assert task.parameters == {"channel": "sms", "to": SAM_PHONE, "question": "When is staging rebuilt?"}
    assert not ChatRequest.objects.exists()


def test_a_failed_run_tells_the_requester_it_failed(webhooks, sam, model, committed, published, settings):
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_THRESHOLD = 100
    for _ in range(3):
        model.fail(503)
    webhooks.sms(sender=SAM_PHONE, text="Summarise the incident")
    process_deliveries()
    task_id = AgentTask.objects.get().pk
    for _ in range(3):  # the run retries with backoff before it fails
        task = run(task_id, committed)
    assert task.status == "failed"
    published.run()
    answer, = answers()
    assert answer.to == SAM_PHONE and answer.text.startswith("Sorry, your request failed") and "503" in answer.text


def test_the_answer_never_goes_to_another_address(webhooks, sam, acme, model, committed, published, make_user,
                                                 link):
    model.reply(text="The secret plan.")
    webhooks.sms(sender=SAM_PHONE, text="What is the plan?")
    process_deliveries()
    # Before the run ends, the number stops being Sam's and becomes someone else's.
    ChannelIdentity.objects.filter(user=sam, channel="sms").delete()
    link(make_user(username="acme-mallory", tenant="acme"), "sms", SAM_PHONE)

    task = run(AgentTask.objects.get().pk, committed)
    published.run()
    assert task.status == "succeeded"
    assert answers() == []
    assert not OutboundMessage.objects.filter(to=SAM_PHONE).exclude(purpose="reply").exists()


def test_a_denied_request_records_no_chat_origin(webhooks, sam, acme, model, published):
    acme.set_policy(rules={"agent.run": "deny"})
    webhooks.sms(sender=SAM_PHONE, text="anything")
    process_deliveries()
    assert AgentTask.objects.get().status == "rejected"
    assert not ChatRequest.objects.exists() and published == []
    assert "not allowed" in OutboundMessage.objects.get(purpose="reply").text


def test_a_run_waiting_for_a_tool_approval_tells_the_requester_once(webhooks, sam, acme, model, committed,
                                                                     published):
    acme.set_policy(rules={"agent.run": "allow", "tool:webhook.post": "escalate"})
    model.reply(tool_calls=[("webhook.post", {"url": "https://crm.example.com/hook", "body": {"deal": 1}})])
    webhooks.sms(sender=SAM_PHONE, text="Tell the CRM deal 1 closed")
    process_deliveries()

    task = run(AgentTask.objects.get().pk, committed)
    assert task.status == "waiting_for_approval"
    assert published.run() == [True]
    escalation = Escalation.objects.get(task_id=task.pk, status="open")
    chat_runs.on_escalation_opened(escalation)
    published.run()
    waiting, = OutboundMessage.objects.filter(purpose="progress")
    assert waiting.to == SAM_PHONE and "waiting for an approval of webhook.post" in waiting.text
    assert answers() == []  # not finished: no answer yet


def test_the_chat_origin_of_an_ended_run_goes_with_log_retention(webhooks, sam, model, committed, published):
    from datetime import timedelta

    from django.utils import timezone

    from operations.retention import logs_prune

    model.reply(text="Done.")
    for text in ("first", "second"):
        webhooks.sms(sender=SAM_PHONE, text=text)
    process_deliveries()
    ended, waiting = AgentTask.objects.order_by("created_at")
    run(ended.pk, committed)
    ChatRequest.objects.update(created_at=timezone.now() - timedelta(days=40))

    logs_prune(days=30, only=["integrations.chat_requests"])
    assert list(ChatRequest.objects.values_list("task_id", flat=True)) == [waiting.pk]  # still to be answered
