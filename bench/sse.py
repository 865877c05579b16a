"""100 concurrent task event streams against a running `make run`, and a normal request's latency meanwhile.

    .venv/bin/python -m bench.sse                 # against http://127.0.0.1:8000, with `make run` up

Creates (or updates) a user `bench-sse` in tenant `bench-sse` with `manage.py emma_user` (which finds
make run's embedded services through EMMA_DATA_DIR), submits one `webhook.post` task (it waits for
approval under the default `supervised` level, so its stream stays open), opens BENCH_SSE_STREAMS (100)
streams of GET /api/tasks/{id}/events, and once each has its first event, times BENCH_SSE_PROBES (50)
GET /health/live one after another while every stream is still open; the same probes before the streams
are the baseline. Loopback only; every stream is closed after BENCH_SSE_HOLD_SECONDS (10) at most, and
the whole run gives up after 60 s. A benchmark, not a test: it reports, it never fails on a timing.
The user's rate limit must allow the streams (RATE_LIMIT_PER_MIN, 120 by default)."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

BASE_URL = os.environ.get("BENCH_SSE_URL", "http://127.0.0.1:8000")
STREAMS = int(os.environ.get("BENCH_SSE_STREAMS", "100"))
PROBES = int(os.environ.get("BENCH_SSE_PROBES", "50"))
HOLD_SECONDS = float(os.environ.get("BENCH_SSE_HOLD_SECONDS", "10"))
GIVE_UP_SECONDS = 60.0
USERNAME, PASSWORD, TENANT = "bench-sse", "bench-sse-password-1", "bench-sse"


def _connection(timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(BASE_URL)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("bench.sse runs against loopback only")
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def _request(method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    connection = _connection(10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    status, raw = response.status, response.read()
    connection.close()
    return status, json.loads(raw) if raw else {}


def _probe_ms() -> float:
    started = time.perf_counter()
    connection = _connection(10)
    connection.request("GET", "/health/live")
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"/health/live answered {response.status}")
    return (time.perf_counter() - started) * 1000


def _probes() -> dict:
    timings = sorted(_probe_ms() for _ in range(PROBES))
    return {"median_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1), "max_ms": round(timings[-1], 1)}


class Stream(threading.Thread):
    """One client: connects, reads until its first event, then holds the stream open until told to stop."""

    def __init__(self, path: str, token: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.path, self.token, self.stop = path, token, stop
        self.first_event_ms: float | None = None
        self.open_at_stop = False
        self.error: str | None = None

    def run(self):
        started = time.perf_counter()
        connection = _connection(HOLD_SECONDS + GIVE_UP_SECONDS)
        try:
            connection.request("GET", self.path, headers={"Authorization": f"Bearer {self.token}",
                                                          "Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                self.error = f"status {response.status}: {response.read()[:200]!r}"
                return
            while True:
                line = response.fp.readline()
                if not line:
                    self.error = "the stream ended early"
                    return
                if line.startswith(b"id: "):
                    break
            self.first_event_ms = (time.perf_counter() - started) * 1000
            self.stop.wait(HOLD_SECONDS + GIVE_UP_SECONDS)
            self.open_at_stop = not response.isclosed()
        except Exception as exc:  # reported, never raised: a benchmark counts failures
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()


def main() -> int:
    subprocess.run([sys.executable, "manage.py", "emma_user", "--username", USERNAME, "--password", PASSWORD,
                    "--tenant", TENANT, "--role", "admin"], check=True, stdout=subprocess.DEVNULL)
    status, body = _request("POST", "/api/auth/token", {"username": USERNAME, "password": PASSWORD})
    assert status == 200, body
    token = body["access"]
    status, body = _request("POST", "/api/tasks", {"task_type": "webhook.post", "parameters": {
        "url": "https://crm.example.com/hook", "body": {"bench": True}}}, token=token)
    assert status in (200, 202) and body["status"] == "pending_approval", body
    path = f"/api/tasks/{body['task_id']}/events"

    baseline = _probes()
    stop = threading.Event()
    streams = [Stream(path, token, stop) for _ in range(STREAMS)]
    started = time.perf_counter()
    for stream in streams:
        stream.start()
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline and any(s.first_event_ms is None and s.error is None for s in streams):
        time.sleep(0.05)
    all_connected_s = time.perf_counter() - started
    connected = [s for s in streams if s.first_event_ms is not None]
    during = _probes() if connected else None
    time.sleep(max(0.0, HOLD_SECONDS - (time.perf_counter() - started)))
    stop.set()
    for stream in streams:
        stream.join(10)
    first_events = sorted(s.first_event_ms for s in connected)
    report = {
        "streams": STREAMS,
        "served_concurrently": sum(1 for s in connected if s.open_at_stop),
        "failed": [s.error for s in streams if s.error][:5],
        "all_first_events_within_s": round(all_connected_s, 2),
        "first_event_ms": {"median": round(statistics.median(first_events), 1), "max": round(first_events[-1], 1)}
        if first_events else None,
        "health_live_before": baseline,
        "health_live_during": during,
    }
    print(json.dumps(report, indent=2))
    print(f"{report['served_concurrently']}/{STREAMS} streams open at once; GET /health/live median "
          f"{baseline['median_ms']} ms before, {during['median_ms'] if during else '-'} ms with them open")
    return 0


if __name__ == "__main__":
    sys.exit(main())
