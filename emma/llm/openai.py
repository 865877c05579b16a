"""OpenAI's chat completions (and any server that speaks them), through the official SDK.

The neutral messages become OpenAI's: the system prompt a first `system` message, an assistant's tool
calls `tool_calls` with JSON-string arguments (several at once when the model asked for several), each
result a `tool` message naming its call. https://platform.openai.com/docs/api-reference/chat/create"""

from __future__ import annotations

import json
from functools import lru_cache

import openai

from emma.llm.base import (
    ModelTurn,
    ToolCall,
    ToolSpec,
    Usage,
    parsed,
    sdk_errors,
)
from memory.embedders.openai import api_url

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens",
                "content_filter": "refusal"}


def base_url_of(base_url: str) -> str:
    """A base URL without a path gets /v1, one with a path is used as given (as for embeddings)."""
    return api_url(base_url, "")


@lru_cache(maxsize=8)
def _client(base_url: str, api_key: str) -> openai.OpenAI:
    # max_retries=0: emma.llm's loop is the only one, so the breaker sees every attempt.
    # The SDK wants a key even for a server that needs none (a local model); `call` then omits the header.
    return openai.OpenAI(base_url=base_url_of(base_url), api_key=api_key or "unused", max_retries=0)


def to_wire(messages: list[dict], system: str) -> list[dict]:
    wire = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role = message["role"]
        if role == "assistant":
            calls = message.get("tool_calls") or []
            entry = {"role": "assistant", "content": message.get("content") or (None if calls else "")}
            if calls:
                entry["tool_calls"] = [{"id": call["id"], "type": "function",
                                        "function": {"name": call["name"],
                                                     "arguments": json.dumps(call.get("arguments") or {})}}
                                       for call in calls]
            wire.append(entry)
        elif role == "tool":
            wire.append({"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]})
        else:
            wire.append({"role": role, "content": message["content"]})
    return wire


def tools_to_wire(tools: list[ToolSpec]) -> list[dict]:
    return [{"type": "function", "function": {"name": tool.name, "description": tool.description,
                                              "parameters": tool.parameters}} for tool in tools]


def _tool_call(call) -> ToolCall:
    raw = call.function.arguments or ""
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        arguments = None
    if isinstance(arguments, dict):
        return ToolCall(id=call.id, name=call.function.name, arguments=arguments)
    return ToolCall(id=call.id, name=call.function.name, arguments={}, raw_arguments=raw)


def from_wire(completion, requested_model: str) -> ModelTurn:
    choice = completion.choices[0]
    message = choice.message
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return ModelTurn(
        text=message.content or "",
        tool_calls=tuple(_tool_call(call) for call in message.tool_calls or ()),
        usage=Usage(input_tokens=(usage.prompt_tokens or 0) if usage else 0,
                    output_tokens=(usage.completion_tokens or 0) if usage else 0,
                    cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0),
        model=completion.model or requested_model,
        stop_reason=STOP_REASONS.get(choice.finish_reason, choice.finish_reason or ""),
    )


def call(*, base_url: str, api_key: str, model: str, system: str, messages: list[dict], tools: list[ToolSpec],
         max_tokens: int, timeout: float, idempotency_key: str) -> ModelTurn:
    """One request, no retries: Transient for what is worth another attempt, LLMRefused for the rest."""
    request = {"model": model, "messages": to_wire(messages, system), "max_completion_tokens": max_tokens}
    if tools:
        request["tools"] = tools_to_wire(tools)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    if not api_key:
        headers["Authorization"] = openai.Omit()  # no key: no Authorization header, as before the SDK
    with sdk_errors(openai, timeout):
        completion = _client(base_url, api_key).chat.completions.create(
            **request, timeout=timeout, extra_headers=headers)
    return parsed(from_wire, completion, model)
