"""What the log-retention job may let go of (registered in IntegrationsConfig.ready): the bodies of old
webhook deliveries and the texts of old outbound messages; and the chat and GitHub origins of agent runs that
ended (their answer was queued when they ended), and the states of GitHub connect flows (each expired within
GITHUB_OAUTH_STATE_MINUTES of its start). The rows stay, with their dedup and
idempotency keys, so a replayed delivery or a repeated key is still recognised after the retention period."""

from django.db.models import QuerySet

from core.registries import register_prunable
from emma.models import AgentTask
from integrations.models import ChatRequest, GitHubOAuthState, GitHubRequest, OutboundMessage, WebhookDelivery

DONE_DELIVERIES = [WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED, WebhookDelivery.Status.FAILED]
DONE_MESSAGES = [OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED, OutboundMessage.Status.CANCELLED]


def delivery_bodies() -> QuerySet:
    return WebhookDelivery.objects.filter(status__in=DONE_DELIVERIES).exclude(body="", headers={})


def empty_delivery_bodies(batch: QuerySet) -> int:
    return batch.update(body="", headers={})


def message_texts() -> QuerySet:
    return OutboundMessage.objects.filter(status__in=DONE_MESSAGES).exclude(text="", blocks__isnull=True)


def empty_message_texts(batch: QuerySet) -> int:
    return batch.update(text="", blocks=None)


def finished_chat_requests() -> QuerySet:
    return ChatRequest.objects.filter(
        task_id__in=AgentTask.objects.filter(status__in=AgentTask.FINAL_STATUSES).values("pk"))


def finished_github_requests() -> QuerySet:
    return GitHubRequest.objects.filter(
        task_id__in=AgentTask.objects.filter(status__in=AgentTask.FINAL_STATUSES).values("pk"))


def register() -> None:
    register_prunable("integrations.webhook_delivery_bodies", delivery_bodies, "received_at",
                      action=empty_delivery_bodies)
    register_prunable("integrations.outbound_message_texts", message_texts, "created_at", action=empty_message_texts)
    register_prunable("integrations.chat_requests", finished_chat_requests, "created_at")
    register_prunable("integrations.github_oauth_states", GitHubOAuthState.objects.all, "created_at")
    register_prunable("integrations.github_requests", finished_github_requests, "created_at")
