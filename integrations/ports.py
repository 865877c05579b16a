"""What drafting asks of integrations without importing it (floors): registered as core.registries ports in
IntegrationsConfig.ready. Each sends through the outbox or the GitHub client, once per key."""

from emma.registry import RetryableError
from integrations import outbound
from integrations.github import client as github
from integrations.models import Channel, ChannelIdentity, OutboundMessage, normalized_address


def person_tell(*, tenant_id: int, person, text: str, purpose: str, key: str) -> None:
    """Tell a person on each of their linked chat addresses in the tenant, once per key and address."""
    for identity in ChannelIdentity.objects.filter(user=person, tenant_id=tenant_id):
        if outbound.channel_available(identity.channel):
            outbound.message_queue(tenant_id=tenant_id, channel=identity.channel, to=identity.address, text=text,
                                   purpose=purpose, idempotency_key=f"{key}:{identity.pk}", recipient_id=person.pk)


def _receipt(message: OutboundMessage) -> dict:
    return {"message_id": message.pk, "provider_message_id": message.provider_message_id,
            "provider_channel": message.provider_channel}


def slack_publish(*, tenant_id: int, channel: str, text: str, key: str, task_id, purpose: str) -> dict:
    """Post once through the outbox (first attempt now) and return its receipt; RetryableError while the outbox
    still holds it (breaker, rate limit, cap), RuntimeError when it failed."""
    message = outbound.message_queue(
        tenant_id=tenant_id, channel=Channel.SLACK, to=normalized_address(Channel.SLACK, channel), text=text,
        purpose=purpose, idempotency_key=key, task_id=task_id, publish=False)
    if message.status == OutboundMessage.Status.QUEUED:
        outbound.message_send(message_id=message.pk)
        message.refresh_from_db()
    if message.status == OutboundMessage.Status.SENT:
        return _receipt(message)
    if message.status in (OutboundMessage.Status.FAILED, OutboundMessage.Status.CANCELLED):
        raise RuntimeError(f"the Slack message could not be sent: {message.error}")
    raise RetryableError(f"the Slack message is not sent yet ({message.status}): {message.error}")


def slack_sent(*, keys: list[str]) -> dict[str, dict]:
    """The receipts of the messages of these keys that the outbox has sent."""
    return {message.idempotency_key: _receipt(message) for message in OutboundMessage.objects.filter(
        idempotency_key__in=keys, status=OutboundMessage.Status.SENT)}


def github_publish(*, tenant_id: int, repo: str, issue: int | None, title: str, body: str, key: str) -> dict:
    """A comment on the issue (or a new issue) as the tenant's installation, found again by its key on a retry."""
    if issue is not None:
        call = lambda kit: github.comment_post(kit, repo=repo, number=issue, body=body, key=key)  # noqa: E731
    else:
        call = lambda kit: github.issue_create(kit, repo=repo, labels=[], key=key, title=title, body=body)  # noqa: E731
    try:
        posted = github.as_installation(tenant_id=tenant_id, repo=repo, call=call)
    except github.GitHubFailure as exc:
        if exc.retryable:
            raise RetryableError(str(exc)) from None
        raise RuntimeError(str(exc)) from None
    return {name: posted[name] for name in ("url", "comment_id", "number") if name in posted}


PORTS = {"person_tell": person_tell, "slack_publish": slack_publish, "slack_sent": slack_sent,
         "github_publish": github_publish}
