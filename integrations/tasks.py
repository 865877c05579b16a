"""Celery tasks of the integrations: thin, take ids, call a service. All on the `integrations` queue."""

from celery import shared_task

from core.registries import PeriodicJob
from integrations import approvals, chat_runs, outbound, services
from integrations.github import runs as github_runs


@shared_task(name="integrations.process_delivery", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def process_delivery(delivery_id: int) -> str:
    """Act on one stored webhook delivery; a duplicate message finds it locked or already processed."""
    return services.delivery_process(delivery_id=delivery_id)


@shared_task(name="integrations.send_message", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def send_message(message_id: int) -> str:
    """Send one outbox message; a duplicate message finds it claimed, sent or not yet due."""
    return outbound.message_send(message_id=message_id)


@shared_task(name="integrations.send_due_messages", queue="integrations", expires=10)
def send_due_messages() -> dict:
    """Publish due messages whose send was lost, and settle sends whose worker died."""
    return outbound.messages_send_due()


@shared_task(name="integrations.republish_deliveries", queue="integrations", expires=30)
def republish_deliveries() -> int:
    """Publish again the webhook deliveries whose processing message was lost."""
    return services.deliveries_republish()


@shared_task(name="integrations.notify_approvers", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def notify_approvers(escalation_id: str) -> int:
    """Tell an open escalation's approvers on their channels; idempotent (one message per approver)."""
    return approvals.escalation_opened_notify(escalation_id=escalation_id)


@shared_task(name="integrations.show_escalation_progress", queue="integrations", acks_late=True,
             reject_on_worker_lost=True)
def show_escalation_progress(escalation_id: str) -> int:
    """Show a quorum's progress on the escalation's Slack requests; idempotent (one update per count)."""
    return approvals.escalation_progress(escalation_id=escalation_id)


@shared_task(name="integrations.remind_approvers", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def remind_approvers(escalation_id: str) -> int:
    """Remind the escalation's approvers who have not answered; idempotent (one reminder per approver)."""
    return approvals.escalation_remind(escalation_id=escalation_id)


@shared_task(name="integrations.settle_escalation", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def settle_escalation(escalation_id: str, outcome: str) -> None:
    """Update a closed escalation's chat messages and close its decision codes; idempotent."""
    approvals.escalation_settle(escalation_id=escalation_id, outcome=outcome)


@shared_task(name="integrations.answer_chat_request", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def answer_chat_request(task_id: str) -> bool:
    """Send a finished agent run's answer to the chat requester who asked for it; idempotent (once per run)."""
    return chat_runs.chat_run_answer(task_id=task_id) is not None


@shared_task(name="integrations.tell_chat_requester_waiting", queue="integrations", acks_late=True,
             reject_on_worker_lost=True)
def tell_chat_requester_waiting(escalation_id: str) -> bool:
    """Tell a chat requester their run waits for an approval of a tool call; idempotent (once per call)."""
    return chat_runs.chat_run_waiting_tell(escalation_id=escalation_id) is not None


@shared_task(name="integrations.reply_on_github", queue="integrations", acks_late=True, reject_on_worker_lost=True)
def reply_on_github(task_id: str) -> bool:
    """Submit the github.comment task answering a finished agent run asked for on GitHub; idempotent (once per
    run)."""
    return github_runs.github_reply_submit(task_id=task_id) is not None


@shared_task(name="integrations.reply_on_github_missed", queue="integrations", expires=60)
def reply_on_github_missed() -> int:
    """Submit the replies of GitHub-asked runs whose task-finished hook was lost."""
    return github_runs.github_replies_submit_missed()


PERIODIC_JOBS = [
    PeriodicJob("send due messages", "integrations.send_due_messages", every_seconds=5, expires_seconds=10,
                queue="integrations",
                description="Outbound messages whose send was lost are published again; sends whose worker died "
                            "are settled (edits queued again, posts failed as outcome unknown)."),
    PeriodicJob("republish webhook deliveries", "integrations.republish_deliveries", every_seconds=30,
                expires_seconds=30, queue="integrations",
                description="Webhook deliveries still unprocessed a minute after they arrived are published again."),
    PeriodicJob("reply to GitHub runs", "integrations.reply_on_github_missed", every_seconds=60,
                expires_seconds=60, queue="integrations",
                description="Agent runs asked for on GitHub that ended over a minute ago without their reply "
                            "comment (its hook was lost) get it submitted now, once."),
]
