"""What every part of emma.llm shares: the neutral turn and its usage, the errors, and reading Retry-After."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from emma.registry import RetryableError

RETRY_AFTER_CAP_SECONDS = 60.0  # the house rule: no wait over a minute inside a task


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: `parameters` is the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. Arguments that were not a JSON object arrive as {} with the text in
    `raw_arguments`, so the caller can tell the model what was wrong."""

    id: str
    name: str
    arguments: dict
    raw_arguments: str = ""


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. `input_tokens` counts the whole prompt; `cached_tokens` is the part of it read
    from the provider's prompt cache (priced apart)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class ModelTurn:
    """The model's answer. `stop_reason` in one vocabulary for every provider: "end_turn", "tool_use",
    "max_tokens", "refusal", or the provider's own word for anything else."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str
    stop_reason: str


class LLMError(Exception):
    """The model could not answer this request."""


class LLMUnavailable(LLMError, RetryableError):
    """Retries exhausted, the breaker open, or the time ran out: the same request may work later (a task
    type raising it gets the lifecycle's backoff)."""


class LLMRefused(LLMError):
    """The provider refused the request (a 4xx other than 429), answered in an unknown shape, or no model
    is configured: the same request would fail again."""


class Transient(Exception):
    """One attempt failed in a way worth another (429, 5xx, a timeout, a refused connection). Adapters
    raise it; the retry loop turns the last one into LLMUnavailable."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(headers) -> float | None:
    """The wait a 429 or 503 asks for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date;
    capped at a minute. None when absent or unreadable."""
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return min(max(float(headers["retry-after-ms"]) / 1000, 0.0), RETRY_AFTER_CAP_SECONDS)
    except ValueError:
        pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def error_message(body, fallback: str = "") -> str:
    """The provider's own words from an error body ({"error": {"message": …}} for both), else the fallback."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return (fallback or "")[:300]


@contextlib.contextmanager
def sdk_errors(sdk, timeout: float):
    """One SDK request's failures (openai and anthropic name their exceptions alike) as Transient, for what
    is worth another attempt, or LLMRefused for the rest."""
    try:
        yield
    except sdk.APITimeoutError as exc:
        raise Transient(f"no answer within {timeout:g}s (APITimeoutError)") from exc
    except sdk.APIConnectionError as exc:
        raise Transient(f"unreachable: {type(exc.__cause__ or exc).__name__}: {exc.__cause__ or exc}") from exc
    except sdk.APIStatusError as exc:
        detail = f"answered {exc.status_code}: {error_message(exc.body, exc.response.text)}"
        if is_retryable_status(exc.status_code):
            raise Transient(detail, retry_after=retry_after_seconds(exc.response.headers)) from exc
        raise LLMRefused(detail) from exc
    except sdk.APIError as exc:  # an answer the SDK could not read
        raise LLMRefused(f"answered in an unknown format: {exc}") from exc


def parsed(from_wire, answer, model: str) -> ModelTurn:
    """The provider's answer as a ModelTurn; LLMRefused when it is not what its API documents."""
    try:
        return from_wire(answer, model)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise LLMRefused(f"answered in an unknown format: {str(answer)[:300]}") from exc
