"""Slack Web API through slack_sdk's WebClient: chat.postMessage, and chat.update to mark an approval
request decided. SLACK_API_URL (default https://slack.com/api/) points it elsewhere (a proxy, a test).

The Web API has no idempotency key. The send service's claim (queued → sending) keeps two workers
from posting one message; the key also travels in the message's metadata, where a person (or a
reconciliation script reading conversations.history) can see which outbox row a message came from."""

import functools

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.errors import NotConfigured, ProviderError, SendResult

# Slack's `error` values that mean "try again later"; any other one is about this request.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def configured() -> bool:
    return bool(settings.SLACK_BOT_TOKEN)


@functools.lru_cache(maxsize=8)
def _client(token: str, base_url: str, timeout: int) -> WebClient:
    # No retry handlers: a retry inside the SDK would be invisible to the breaker and could post twice.
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])


def web_client() -> WebClient:
    token = settings.SLACK_BOT_TOKEN
    if not token:
        raise NotConfigured("SLACK_BOT_TOKEN is not set")
    return _client(token, settings.SLACK_API_URL, max(1, int(settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS)))


def _call(method, **arguments) -> dict:
    try:
        return method(**arguments).data
    except SlackApiError as exc:
        status = exc.response.status_code
        error = (exc.response.data or {}).get("error", "") if isinstance(exc.response.data, dict) else ""
        retryable = status >= 500 or status == 429 or error in RETRYABLE_ERRORS
        raise ProviderError(f"Slack answered {status}: {error or 'error'}"[:500], retryable=retryable) from exc
    except (OSError, ValueError) as exc:  # urllib: refused, reset, timed out; a garbled answer
        raise ProviderError(f"Slack unreachable: {type(exc).__name__}: {exc}"[:500], retryable=True) from exc


def post_message(*, to: str, text: str, blocks: list | None, idempotency_key: str) -> SendResult:
    """Post to a channel id, or to a member id (Slack delivers it in the app's direct message)."""
    data = _call(web_client().chat_postMessage, channel=to, text=text, blocks=blocks, unfurl_links=False,
                 metadata={"event_type": "emma_message", "event_payload": {"idempotency_key": idempotency_key}})
    return SendResult(provider_message_id=str(data.get("ts", "")), provider_channel=str(data.get("channel", to)))


def update_message(*, channel: str, ts: str, text: str, blocks: list | None) -> SendResult:
    data = _call(web_client().chat_update, channel=channel, ts=ts, text=text, blocks=blocks or [])
    return SendResult(provider_message_id=str(data.get("ts", ts)), provider_channel=str(data.get("channel", channel)))
