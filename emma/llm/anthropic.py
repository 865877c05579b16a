"""Anthropic's messages API, through the official SDK.

The neutral messages become Anthropic's: the system prompt a top-level `system`, an assistant's tool
calls `tool_use` blocks of its message, each result a `tool_result` block in the user message that
follows (results of one turn's parallel calls, and any text after them, merged into that one message,
as turns must alternate). https://docs.anthropic.com/en/api/messages"""

from __future__ import annotations

import json
from functools import lru_cache

import anthropic

from emma.llm.base import (
    ModelTurn,
    ToolCall,
    ToolSpec,
    Usage,
    parsed,
    sdk_errors,
)

DEFAULT_HOST = "https://api.anthropic.com"  # the SDK's own default, named so no ANTHROPIC_* variable moves it


def base_url_of(base_url: str) -> str:
    """The API's root: the SDK adds /v1/messages, so a base URL given with /v1 loses it."""
    base = (base_url or DEFAULT_HOST).rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


@lru_cache(maxsize=8)
def _client(base_url: str, api_key: str) -> anthropic.Anthropic:
    # max_retries=0: emma.llm's loop is the only one, so the breaker sees every attempt.
    # The key is always passed, so the SDK looks for no credential of its own (ANTHROPIC_* variables, profiles);
    # a gateway that needs none gets a placeholder that `call` then leaves out.
    return anthropic.Anthropic(base_url=base_url_of(base_url), api_key=api_key or "unused", max_retries=0)


def _blocks(message: dict) -> tuple[str, list[dict]]:
    role = message["role"]
    if role == "assistant":
        blocks = [{"type": "text", "text": message["content"]}] if message.get("content") else []
        blocks += [{"type": "tool_use", "id": call["id"], "name": call["name"], "input": call.get("arguments") or {}}
                   for call in message.get("tool_calls") or ()]
        return "assistant", blocks
    if role == "tool":
        block = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
        if message.get("is_error"):
            block["is_error"] = True
        return "user", [block]
    return "user", [{"type": "text", "text": message["content"]}]


def to_wire(messages: list[dict]) -> list[dict]:
    wire: list[dict] = []
    for message in messages:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    for entry in wire:  # a lone text stays a plain string, as people write it
        if len(entry["content"]) == 1 and entry["content"][0]["type"] == "text":
            entry["content"] = entry["content"][0]["text"]
    return wire


def tools_to_wire(tools: list[ToolSpec]) -> list[dict]:
    return [{"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in tools]


def _tool_call(block) -> ToolCall:
    if isinstance(block.input, dict):
        return ToolCall(id=block.id, name=block.name, arguments=dict(block.input))
    raw = block.input if isinstance(block.input, str) else json.dumps(block.input)
    return ToolCall(id=block.id, name=block.name, arguments={}, raw_arguments=raw)


def from_wire(message, requested_model: str) -> ModelTurn:
    usage = message.usage
    cached = getattr(usage, "cache_read_input_tokens", 0) or 0
    written = getattr(usage, "cache_creation_input_tokens", 0) or 0
    return ModelTurn(
        text="".join(block.text for block in message.content if block.type == "text"),
        tool_calls=tuple(_tool_call(block) for block in message.content if block.type == "tool_use"),
        # Anthropic counts the cached part of the prompt apart from input_tokens; Usage counts the whole prompt.
        usage=Usage(input_tokens=(usage.input_tokens or 0) + cached + written,
                    output_tokens=usage.output_tokens or 0, cached_tokens=cached),
        model=message.model or requested_model,
        stop_reason=message.stop_reason or "",
    )


def call(*, base_url: str, api_key: str, model: str, system: str, messages: list[dict], tools: list[ToolSpec],
         max_tokens: int, timeout: float, idempotency_key: str) -> ModelTurn:
    """One request, no retries: Transient for what is worth another attempt, LLMRefused for the rest."""
    request = {"model": model, "messages": to_wire(messages), "max_tokens": max_tokens}
    if system:
        request["system"] = system
    if tools:
        request["tools"] = tools_to_wire(tools)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    if not api_key:
        headers["Authorization"] = anthropic.Omit()
    with sdk_errors(anthropic, timeout):
        message = _client(base_url, api_key).messages.create(**request, timeout=timeout, extra_headers=headers)
    return parsed(from_wire, message, model)
