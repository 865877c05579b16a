"""The LLM client the agent loop, `research` and `assistant.request` share (emma/llm/client.py).

    turn = llm.complete(messages=[{"role": "user", "content": "…"}], tools=[ToolSpec(...)], system="…")
    turn.text, turn.tool_calls, llm.cost(turn.usage, turn.model)

Messages are neutral; each provider's adapter (openai.py, anthropic.py) turns them into its wire format
and the answer back:
    {"role": "user", "content": str}
    {"role": "assistant", "content": str, "tool_calls": [{"id": str, "name": str, "arguments": dict}]}
    {"role": "tool", "tool_call_id": str, "name": str, "content": str}   (optional "is_error": True)
LLMUnavailable (a RetryableError: the caller may retry later) or LLMRefused (do not retry) when the
model cannot answer."""

from emma.llm.base import LLMError, LLMRefused, LLMUnavailable, ModelTurn, ToolCall, ToolSpec, Usage
from emma.llm.client import complete, configured, cost

__all__ = ["LLMError", "LLMRefused", "LLMUnavailable", "ModelTurn", "ToolCall", "ToolSpec", "Usage", "complete",
           "configured", "cost"]
