"""Agent runs on the real stack, against a loopback model that answers at once (tests/fakes/llm.py):

- overhead per step: a run of BENCH_AGENT_TOOL_STEPS allowed tool calls (`diagnostic.echo`) then an
  answer, from the run's start to its end divided by its steps (model turns and tool calls); the
  loopback model's own time (an HTTP round trip on loopback) is inside it, as the model time a real
  provider would add on top;
- resume latency: a run pauses on an escalated `webhook.post`; from the approver's POST to the model's
  next request arriving at the loopback model (the run queued, claimed, the approved call sent, its
  result recorded, the next turn asked for).

Sequential, BENCH_AGENT_RUNS runs of each; p50/p95 in the report."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.tasks import FINAL, _stats_ms, _wait


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def http_as(base_url: str, username: str, password: str):
    """An HTTP client with a JWT of `username` (the approver of the resume bench)."""
    import httpx

    token = httpx.post(f"{base_url}/api/auth/token", json={"username": username, "password": password},
                       timeout=30).json()["access"]
    return httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def start_model():
    """The loopback model, started before web and worker so their environment can point at it."""
    from tests.fakes.llm import FakeLLM

    return FakeLLM()


def model_environment(model) -> dict:
    from tests.fakes.llm import API_KEY, MODEL

    return {"LLM_PROVIDER": "openai", "LLM_BASE_URL": model.base_url, "LLM_API_KEY": API_KEY, "LLM_MODEL": MODEL}


def run(report: dict, *, model, client, approver, emma, runs: int, tool_steps: int, alive=None) -> None:
    """`client` submits as the bench user, `approver` decides (another user: four eyes); `emma` reads
    the task table (bench.tasks.EmmaClient)."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}/hook"
    try:
        report["agent"] = {"steps": _overhead(model, client, emma, runs, tool_steps, alive),
                           "resume": _resume(model, client, approver, emma, runs, hook, alive),
                           "runs": runs, "tool_steps": tool_steps}
    finally:
        receiver.shutdown()


def _submit(client, parameters: dict) -> str:
    response = client.post("/api/tasks", json={"task_type": "agent.run", "parameters": parameters})
    if response.status_code != 202 or response.json()["decision"] != "allow":
        raise RuntimeError(f"agent.run was not accepted: {response.status_code} {response.text[:300]}")
    return response.json()["task_id"]


def _finished(emma, task_id: str) -> str | None:
    state = emma.status(task_id)
    return state if state in FINAL else None


def _overhead(model, client, emma, runs, tool_steps, alive) -> dict:
    per_step_ms = []
    for _ in range(runs):
        model.reset()
        for k in range(tool_steps):
            model.reply(tool_calls=[("diagnostic.echo", {"k": k})])
        model.reply(text="done")
        task_id = _submit(client, {"instructions": "Echo a few times.", "tools": ["diagnostic.echo"],
                                   "max_steps": tool_steps + 2})
        state, _ = _wait(lambda: _finished(emma, task_id), timeout=60, interval=0.01, alive=alive)
        if state != "succeeded":
            raise RuntimeError(f"an agent run ended {state}")
        per_step_ms.append(emma.run_seconds(task_id) * 1000 / (2 * tool_steps + 1))
    return _stats_ms(per_step_ms)


def _resume(model, client, approver, emma, runs, hook, alive) -> dict:
    latencies_ms = []
    for _ in range(runs):
        model.reset()
        model.reply(tool_calls=[("webhook.post", {"url": hook})])
        model.reply(text="posted")
        task_id = _submit(client, {"instructions": "Post it.", "tools": ["webhook.post"]})
        _wait(lambda: emma.status(task_id) == "waiting_for_approval", timeout=60, interval=0.005, alive=alive)
        escalation_id = approver.get("/api/escalations/active").json()["results"][0]["id"]
        asked = len(model.requests)
        started = time.perf_counter()
        response = approver.post(f"/api/escalations/{escalation_id}/approve", json={"reason": "bench"})
        if response.status_code != 200:
            raise RuntimeError(f"approve answered {response.status_code}: {response.text[:300]}")
        _wait(lambda: len(model.requests) > asked, timeout=60, interval=0.001, alive=alive)
        latencies_ms.append((time.perf_counter() - started) * 1000)
        _wait(lambda: _finished(emma, task_id), timeout=60, interval=0.01, alive=alive)
    return _stats_ms(latencies_ms)
