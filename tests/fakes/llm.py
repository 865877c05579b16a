"""A fake model server on loopback that speaks both OpenAI's chat completions (`POST …/chat/completions`)
and Anthropic's messages (`POST …/messages`), so emma.llm is tested through the official SDKs and a
real socket, not mocks of our own functions.

Each test scripts it: a queue of replies, taken one per request whatever the wire format.

    fake_llm.reply(text="Deploys are frozen on Fridays.")
    fake_llm.reply(tool_calls=[("webhook.post", {"url": "https://example.com"}), ("memory.search", {"q": "x"})],
                   usage=(100, 20))                    # parallel calls; (input, output[, cached]) tokens
    fake_llm.reply(tool_calls=[("webhook.post", '{"url": ')])  # a string is sent as the raw arguments
    fake_llm.reply(text=lambda body: f"you said {body['messages'][-1]['content']}")  # from the request body
    fake_llm.fail(429, retry_after=1)                  # status, Retry-After header, the vendor's error body
    fake_llm.fail(503, times=4, retry_after=0)
    fake_llm.reply(text="late", delay=3)               # answers after 3 s (client timeouts)
    fake_llm.requests[-1].body["messages"]             # what the model was sent, parsed; .headers, .path, .wire

With nothing scripted it answers 400 "no reply scripted" (no retry, so a missing script fails fast).

`fake_llm` (tests/conftest.py) points this process's settings at it (LLM_PROVIDER openai, switch with
`settings.LLM_PROVIDER = "anthropic"`), forgets the LLM breakers, and re-raises at teardown what a reply
function raised. The server is one per session; for the session's Celery worker, call `use_in_worker()`
before the worker starts (at import of a conftest, as tests/integrations/conftest.py does with its
vendors): every worker test of that session then has an LLM configured, scripted from the test process."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

API_KEY = "sk-fake-llm"
MODEL = "fake-model"


@dataclass(frozen=True)
class Received:
    """One request the fake received: its path, headers (lower-case names), parsed JSON body and wire format."""

    path: str
    headers: dict
    body: dict
    wire: str  # "openai" or "anthropic"


@dataclass
class Scripted:
    status: int = 200
    text: str | Callable | None = None
    tool_calls: list = field(default_factory=list)
    usage: tuple = (10, 5)
    stop_reason: str | None = None
    model: str | None = None
    retry_after: float | str | None = None
    body: dict | None = None
    delay: float = 0.0


class FakeLLM:
    def __init__(self, port: int = 0, default: Scripted | None = None):
        self.lock = threading.Lock()
        self.script: deque[Scripted] = deque()
        self.default = default  # the answer when nothing is scripted (the standalone server's); None: a 400
        self.requests: list[Received] = []
        self.errors: list[Exception] = []  # raised by a scripted reply function; the fixture re-raises them
        self.ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    status, headers, payload = fake.answer(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                           raw)
                except Exception as exc:  # noqa: BLE001 - a test's reply function failed: the fixture re-raises it
                    fake.errors.append(exc)
                    status, headers, payload = 400, {}, _error("", 400, f"the fake LLM failed: {exc!r}")
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-llm").start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"

    # --- scripting -----------------------------------------------------------------------------------

    def reply(self, text: str | Callable | None = None, *, tool_calls=(), usage: tuple = (10, 5),
              stop_reason: str | None = None, model: str | None = None, delay: float = 0.0) -> FakeLLM:
        """Queue an answer: text and/or tool calls, each (name, arguments) or (id, name, arguments); arguments
        a dict (sent as JSON) or a str (sent as is). `text` may be a function of the request body."""
        with self.lock:
            self.script.append(Scripted(text=text, tool_calls=list(tool_calls), usage=tuple(usage),
                                        stop_reason=stop_reason, model=model, delay=delay))
        return self

    def fail(self, status: int, *, retry_after: float | str | None = None, body: dict | None = None,
             times: int = 1, delay: float = 0.0) -> FakeLLM:
        """Queue `times` errors with `status`, a Retry-After header (seconds or an HTTP date) and the
        vendor's error body (or `body`)."""
        with self.lock:
            for _ in range(times):
                self.script.append(Scripted(status=status, retry_after=retry_after, body=body, delay=delay))
        return self

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests = []
            self.errors = []

    @property
    def pending(self) -> int:
        """Scripted replies not yet taken."""
        with self.lock:
            return len(self.script)

    # --- answering ----------------------------------------------------------------------------------

    def answer(self, path: str, headers: dict, raw: bytes) -> tuple[int, dict, dict]:
        wire = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else ""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"(not json)": raw.decode(errors="replace")}
        with self.lock:
            self.requests.append(Received(path=path, headers=headers, body=body, wire=wire))
            scripted = (self.script.popleft() if self.script else self.default) if wire else None
        if not wire:
            return 404, {}, _error(wire, 404, f"no such endpoint: {path}")
        if scripted is None:
            return 400, {}, _error(wire, 400, "the fake LLM has no reply scripted for this request")
        if scripted.delay:
            time.sleep(scripted.delay)
        if scripted.status != 200:
            headers = {} if scripted.retry_after is None else {"Retry-After": str(scripted.retry_after)}
            return scripted.status, headers, scripted.body or _error(wire, scripted.status, "scripted failure")
        text = scripted.text(body) if callable(scripted.text) else scripted.text
        calls = [call if len(call) == 3 else (f"call_{next(self.ids)}", *call) for call in scripted.tool_calls]
        model = scripted.model or body.get("model") or MODEL
        build = _openai_answer if wire == "openai" else _anthropic_answer
        return 200, {}, build(text, calls, scripted.usage, scripted.stop_reason, model, next(self.ids))


def _arguments(arguments) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _openai_answer(text, calls, usage, stop_reason, model, number) -> dict:
    message = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        message["tool_calls"] = [{"id": call_id, "type": "function",
                                  "function": {"name": name, "arguments": _arguments(arguments)}}
                                 for call_id, name, arguments in calls]
    input_tokens, output_tokens, cached = (*usage, 0)[:3]
    return {
        "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": stop_reason or ("tool_calls" if calls else "stop")}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                  "total_tokens": input_tokens + output_tokens,
                  "prompt_tokens_details": {"cached_tokens": cached}},
    }


def _anthropic_answer(text, calls, usage, stop_reason, model, number) -> dict:
    content = [{"type": "text", "text": text}] if text else []
    for call_id, name, arguments in calls:
        if isinstance(arguments, str):  # what a model's broken JSON looks like once the API gives up on it
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    input_tokens, output_tokens, cached = (*usage, 0)[:3]
    # Anthropic counts the tokens read from the cache apart from input_tokens.
    return {
        "id": f"msg_{number}", "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason or ("tool_use" if calls else "end_turn"), "stop_sequence": None,
        "usage": {"input_tokens": input_tokens - cached, "output_tokens": output_tokens,
                  "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0},
    }


def _error(wire: str, status: int, message: str) -> dict:
    if wire == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                      "param": None, "code": None}}


_SERVER: FakeLLM | None = None
_SERVER_LOCK = threading.Lock()


def fake_llm_server() -> FakeLLM:
    """The session's fake model server, started on first use."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            _SERVER = FakeLLM()
        return _SERVER


def settings_for(provider: str = "openai") -> dict:
    """The settings that point emma.llm at the fake (a base URL without a path: the client adds /v1)."""
    return {"LLM_PROVIDER": provider, "LLM_BASE_URL": fake_llm_server().base_url, "LLM_API_KEY": API_KEY,
            "LLM_MODEL": MODEL}


def use_in_worker(provider: str = "openai") -> None:
    """Point the processes the suite starts (the session's Celery worker) at the fake. Call it before the
    worker starts, at import of a conftest: it holds for the whole session."""
    from tests.conftest import CHILD_SETTINGS

    CHILD_SETTINGS.update(settings_for(provider))


if __name__ == "__main__":  # a model for trying agent runs by hand under `make run`: one answer to everything
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI/Anthropic-compatible model server on loopback.")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--reply", default="I looked into it: the build broke when the lint step failed.",
                        help="what the model answers to every request (no tool calls)")
    arguments = parser.parse_args()
    fake = FakeLLM(port=arguments.port, default=Scripted(text=arguments.reply))
    print(f"export LLM_PROVIDER=openai LLM_BASE_URL={fake.base_url} LLM_API_KEY={API_KEY} LLM_MODEL={MODEL}",
          flush=True)
    threading.Event().wait()
