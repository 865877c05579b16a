"""emma.llm through its public functions, against the fake model server on loopback (tests/fakes/llm.py)
speaking OpenAI's and Anthropic's wire formats through the official SDKs."""

import time
from decimal import Decimal
from email.utils import formatdate

import pytest

from core import breaker
from emma import llm
from emma.llm import LLMRefused, LLMUnavailable, ToolCall, ToolSpec, Usage
from emma.registry import RetryableError

WEBHOOK = ToolSpec("webhook.post", "POST a JSON body to a URL.",
                   {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]})
SEARCH = ToolSpec("memory.search", "Search the tenant's memories.",
                  {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]})
QUESTION = {"role": "user", "content": "Tell the deploy hook and look up the freeze."}


def ask(**kwargs):
    return llm.complete(messages=kwargs.pop("messages", [QUESTION]), **kwargs)


def with_results(messages, turn, results):
    """The conversation the agent loop stores after running the turn's tool calls."""
    assistant = {"role": "assistant", "content": turn.text,
                 "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]}
    tools = [{"role": "tool", "tool_call_id": c.id, "name": c.name, "content": result}
             for c, result in zip(turn.tool_calls, results, strict=True)]
    return [*messages, assistant, *tools]


# --- OpenAI -------------------------------------------------------------------------------------


def test_openai_text_answer(fake_llm):
    fake_llm.reply(text="Deploys are frozen on Fridays.", usage=(12, 7))
    turn = ask(system="Be brief.", max_tokens=200, idempotency_key="task-1")
    assert turn.text == "Deploys are frozen on Fridays." and turn.tool_calls == ()
    assert (turn.model, turn.stop_reason) == ("fake-model", "end_turn")
    assert turn.usage == Usage(input_tokens=12, output_tokens=7, cached_tokens=0)
    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"  # a base URL without a path gets /v1
    assert request.headers["authorization"] == "Bearer sk-fake-llm"
    assert request.headers["idempotency-key"] == "task-1"
    assert request.body["model"] == "fake-model" and request.body["max_completion_tokens"] == 200
    assert request.body["messages"] == [{"role": "system", "content": "Be brief."}, QUESTION]
    assert "tools" not in request.body


def test_openai_parallel_tool_calls_round_trip(fake_llm):
    fake_llm.reply(tool_calls=[("webhook.post", {"url": "https://hooks.example.com/deploy"}),
                               ("memory.search", {"query": "deploy freeze"})], usage=(100, 20))
    fake_llm.reply(text="Posted, and the freeze starts on December 20th.")
    turn = ask(tools=[WEBHOOK, SEARCH])
    assert turn.stop_reason == "tool_use" and turn.text == ""
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("webhook.post", {"url": "https://hooks.example.com/deploy"}), ("memory.search", {"query": "deploy freeze"})]
    assert len({c.id for c in turn.tool_calls}) == 2

    messages = with_results([QUESTION], turn, ['{"status": 200}', "Freeze: Dec 20 - Jan 3"])
    final = ask(messages=messages, tools=[WEBHOOK, SEARCH])
    assert final.text == "Posted, and the freeze starts on December 20th."

    first, second = fake_llm.requests
    assert first.body["tools"] == [
        {"type": "function", "function": {"name": "webhook.post", "description": WEBHOOK.description,
                                          "parameters": WEBHOOK.parameters}},
        {"type": "function", "function": {"name": "memory.search", "description": SEARCH.description,
                                          "parameters": SEARCH.parameters}}]
    call_1, call_2 = turn.tool_calls
    assert second.body["messages"] == [
        QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_1.id, "type": "function",
             "function": {"name": "webhook.post", "arguments": '{"url": "https://hooks.example.com/deploy"}'}},
            {"id": call_2.id, "type": "function",
             "function": {"name": "memory.search", "arguments": '{"query": "deploy freeze"}'}}]},
        {"role": "tool", "tool_call_id": call_1.id, "content": '{"status": 200}'},
        {"role": "tool", "tool_call_id": call_2.id, "content": "Freeze: Dec 20 - Jan 3"},
    ]


# --- Anthropic ----------------------------------------------------------------------------------


def test_anthropic_tool_use_round_trip(fake_llm, settings):
    settings.LLM_PROVIDER = "anthropic"
    fake_llm.reply(text="I'll do both.", tool_calls=[("webhook.post", {"url": "https://hooks.example.com/deploy"}),
                                                     ("memory.search", {"query": "deploy freeze"})])
    fake_llm.reply(text="Done.")
    turn = ask(tools=[WEBHOOK, SEARCH], system="You are Emma.", max_tokens=300)
    assert turn.text == "I'll do both." and turn.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("webhook.post", {"url": "https://hooks.example.com/deploy"}), ("memory.search", {"query": "deploy freeze"})]

    messages = with_results([QUESTION], turn, ['{"status": 200}', "Freeze: Dec 20 - Jan 3"])
    messages.append({"role": "user", "content": "And tell me when it ends."})
    assert ask(messages=messages, tools=[WEBHOOK, SEARCH], system="You are Emma.").text == "Done."

    first, second = fake_llm.requests
    assert first.path == "/v1/messages" and first.wire == "anthropic"
    assert first.body["system"] == "You are Emma." and first.body["max_tokens"] == 300
    assert first.body["tools"] == [
        {"name": "webhook.post", "description": WEBHOOK.description, "input_schema": WEBHOOK.parameters},
        {"name": "memory.search", "description": SEARCH.description, "input_schema": SEARCH.parameters}]
    assert all(m["role"] != "system" for m in second.body["messages"])
    call_1, call_2 = turn.tool_calls
    assert second.body["messages"] == [
        {"role": "user", "content": QUESTION["content"]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "I'll do both."},
            {"type": "tool_use", "id": call_1.id, "name": "webhook.post",
             "input": {"url": "https://hooks.example.com/deploy"}},
            {"type": "tool_use", "id": call_2.id, "name": "memory.search", "input": {"query": "deploy freeze"}}]},
        # Both results, and the text after them, in the one user message that follows.
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_1.id, "content": '{"status": 200}'},
            {"type": "tool_result", "tool_use_id": call_2.id, "content": "Freeze: Dec 20 - Jan 3"},
            {"type": "text", "text": "And tell me when it ends."}]},
    ]


# --- usage and cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_usage_is_priced_from_the_table(fake_llm, settings, provider):
    settings.LLM_PROVIDER = provider
    settings.LLM_PRICES = {"*": {"input": 0, "output": 0}, "fake-model": {"input": 2, "output": 10, "cached": 0.5},
                           "fake": {"input": 100, "output": 100}}
    fake_llm.reply(text="ok", usage=(1200, 300, 200))  # 200 of the 1,200 prompt tokens read from the cache
    turn = ask()
    assert turn.usage == Usage(input_tokens=1200, output_tokens=300, cached_tokens=200)
    # 1,000 fresh × $2 + 200 cached × $0.5 + 300 out × $10, per million tokens
    assert llm.cost(turn.usage, turn.model) == Decimal("0.0051")
    assert llm.cost(turn.usage, "fake-model-2025-01-01") == Decimal("0.0051")  # the longest prefix
    assert llm.cost(turn.usage, "someone-elses-model") == 0  # "*"


def test_the_default_price_table_knows_the_default_model(settings):
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert llm.cost(usage, settings.LLM_MODEL) > 0
    assert llm.cost(usage, "gpt-4o-mini-2024-07-18") == llm.cost(usage, "gpt-4o-mini") != llm.cost(usage, "gpt-4o")


# --- retries ---------------------------------------------------------------------------------------


def test_a_429_is_retried_after_its_retry_after(fake_llm):
    fake_llm.fail(429, retry_after=1).reply(text="ok")
    assert ask(idempotency_key="task-7").text == "ok"
    assert len(fake_llm.requests) == 2
    # The same key on the retry, so a provider that honours it does the work once.
    assert [r.headers["idempotency-key"] for r in fake_llm.requests] == ["task-7", "task-7"]


def test_a_retry_after_given_as_an_http_date_is_honoured(fake_llm, settings):
    settings.LLM_PROVIDER = "anthropic"
    fake_llm.fail(529, retry_after=formatdate(time.time(), usegmt=True)).reply(text="ok")
    assert ask().text == "ok"
    assert len(fake_llm.requests) == 2


def test_a_timeout_is_retried(fake_llm, settings):
    settings.LLM_TIMEOUT_SECONDS = 0.5
    fake_llm.reply(text="too late", delay=3).reply(text="in time")
    assert ask().text == "in time"
    assert len(fake_llm.requests) == 2


def test_server_errors_past_the_retries_are_unavailable(fake_llm, settings):
    settings.LLM_MAX_RETRIES = 2
    fake_llm.fail(500, times=3, retry_after=0).reply(text="never asked for")
    with pytest.raises(LLMUnavailable, match="500") as raised:
        ask()
    assert isinstance(raised.value, RetryableError)  # a task type that lets it through gets the backoff
    assert len(fake_llm.requests) == 3 and fake_llm.pending == 1


def test_no_retry_starts_that_would_pass_the_deadline(fake_llm):
    fake_llm.fail(503, retry_after=30).reply(text="never asked for")
    with pytest.raises(LLMUnavailable, match="503"):
        ask(deadline=time.monotonic() + 5)
    assert len(fake_llm.requests) == 1


def test_a_refusal_is_not_retried(fake_llm):
    fake_llm.fail(400, body={"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}})
    fake_llm.reply(text="never asked for")
    with pytest.raises(LLMRefused, match="400: max_tokens is too large"):
        ask()
    assert len(fake_llm.requests) == 1
    assert breaker.states(["llm-openai"])["llm-openai"] == {"state": "closed", "consecutive_failures": 0}


# --- the circuit breaker ---------------------------------------------------------------------------


def test_the_breaker_opens_after_the_threshold_and_then_fails_fast(fake_llm, settings):
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_BREAKER_THRESHOLD = 3
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 0.5
    fake_llm.fail(503, times=3, retry_after=0)
    for _ in range(2):  # two attempts each: the third failed attempt opens the circuit mid-call
        with pytest.raises(LLMUnavailable):
            ask()
    assert len(fake_llm.requests) == 3
    assert breaker.states(["llm-openai"])["llm-openai"]["state"] == "open"

    fake_llm.reply(text="after the cool-down")
    with pytest.raises(LLMUnavailable, match="circuit is open"):
        ask()
    assert len(fake_llm.requests) == 3  # the server was left alone
    # The other provider has its own breaker.
    assert breaker.states(["llm-anthropic"])["llm-anthropic"]["state"] == "closed"

    time.sleep(0.6)  # past the cool-down: one probe goes, and its answer closes the circuit
    assert ask().text == "after the cool-down"
    assert breaker.states(["llm-openai"])["llm-openai"]["state"] == "closed"


# --- what the model said, and what is missing --------------------------------------------------------


# Anthropic's SDK warns that a tool_use input is not the object its types promise: that is the point here.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_malformed_tool_arguments_arrive_empty_with_the_raw_text(fake_llm, settings, provider):
    settings.LLM_PROVIDER = provider
    fake_llm.reply(tool_calls=[("webhook.post", '{"url": "https://hooks.exa'), ("memory.search", {"query": "x"})])
    turn = ask(tools=[WEBHOOK, SEARCH])
    broken, fine = turn.tool_calls
    assert (broken.name, broken.arguments, broken.raw_arguments) == ("webhook.post", {}, '{"url": "https://hooks.exa')
    assert fine == ToolCall(id=fine.id, name="memory.search", arguments={"query": "x"})


def test_configured_names_the_missing_setting(settings):
    settings.LLM_PROVIDER, settings.LLM_BASE_URL, settings.LLM_API_KEY = "openai", "", ""
    assert llm.configured() == "LLM_BASE_URL"
    settings.LLM_API_KEY = "sk-1"
    assert llm.configured() == "LLM_BASE_URL"  # OpenAI-compatible servers are many: the URL says which
    settings.LLM_BASE_URL = "http://127.0.0.1:9"
    assert llm.configured() is None

    settings.LLM_PROVIDER, settings.LLM_BASE_URL, settings.LLM_API_KEY = "anthropic", "", ""
    assert llm.configured() == "LLM_API_KEY"
    settings.LLM_API_KEY = "sk-ant-1"
    assert llm.configured() is None  # the SDK's default host
    settings.LLM_BASE_URL, settings.LLM_API_KEY = "http://127.0.0.1:9", ""
    assert llm.configured() is None  # a gateway that holds the key


def test_an_unconfigured_llm_is_refused_before_any_request(fake_llm, settings):
    settings.LLM_BASE_URL = ""
    fake_llm.reply(text="never asked for")
    with pytest.raises(LLMRefused, match="LLM_BASE_URL"):
        ask()
    assert fake_llm.requests == []


def test_a_server_that_needs_no_key_gets_no_authorization_header(fake_llm, settings):
    settings.LLM_API_KEY = ""
    fake_llm.reply(text="ok")
    assert ask().text == "ok"
    assert "authorization" not in fake_llm.requests[0].headers
