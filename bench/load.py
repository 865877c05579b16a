"""Concurrent load from an asyncio client (httpx): 50 API clients submitting and reading tasks at an
offered rate, and 50 senders of signed GitHub deliveries as fast as Emma acknowledges them.

Each client keeps its own connection and paces itself, so the offered load is what is asked for (an
open schedule: a request late because the one before it was slow goes out at once, not a tick later).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid

from bench.tasks import _stats_ms, percentile


def _stats(samples: list[float]) -> dict:
    stats = _stats_ms(samples)
    stats["p99_ms"] = None if not samples else round(percentile(samples, 99), 2)
    return stats


async def _paced(count: int, interval: float, send, start: float) -> None:
    """send(n) at start + n * interval (at once when that time has passed)."""
    for n in range(count):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(n)


def run_api(report: dict, *, base_url: str, token: str, clients: int, rate: float, seconds: float,
            cpu=None) -> None:
    """report["api_load"]: `clients` clients offer `rate` task submissions a second in all, each
    followed by a GET of the task it created, for `seconds`."""
    import httpx

    per_client = max(1, int(rate * seconds / clients))
    interval = clients / rate
    post_ms: list[float] = []
    get_ms: list[float] = []
    errors: list[str] = []
    tag = f"bench-{uuid.uuid4().hex[:8]}-load"

    async def client(index: int, http, start: float) -> None:
        async def send(n: int) -> None:
            start = time.perf_counter()
            try:
                response = await http.post("/api/tasks", json={
                    "task_type": "diagnostic.echo", "description": tag, "parameters": {"c": index, "n": n}})
                post_ms.append((time.perf_counter() - start) * 1000)
                if response.status_code != 202:
                    errors.append(f"POST {response.status_code}")
                    return
                start = time.perf_counter()
                read = await http.get(f"/api/tasks/{response.json()['task_id']}")
                get_ms.append((time.perf_counter() - start) * 1000)
                if read.status_code != 200:
                    errors.append(f"GET {read.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

        # The clients' slots are spread over one interval on one clock, which starts once every client
        # is set up: clocks of their own, started as each was set up (creating an httpx client takes
        # milliseconds), made the first clients' slots pass unsent and fire together, in step for good.
        await _paced(per_client, interval, send, start + index * interval / clients)

    async def main():
        async with contextlib.AsyncExitStack() as stack:
            https = [await stack.enter_async_context(httpx.AsyncClient(
                base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}))
                for _ in range(clients)]
            start = time.perf_counter()
            await asyncio.gather(*(client(index, http, start) for index, http in enumerate(https)))

    before = cpu.snapshot() if cpu else None
    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    requests = len(post_ms) + len(get_ms)
    report["api_load"] = {
        "clients": clients, "offered_per_second": rate, "seconds": round(elapsed, 2),
        "submitted": len(post_ms), "achieved_per_second": round(len(post_ms) / elapsed, 1),
        "post": _stats(post_ms), "get": _stats(get_ms), "all": _stats(post_ms + get_ms),
        "errors": len(errors), "first_errors": errors[:5], "requests": requests,
        "cpu": cpu.usage(before, cpu.snapshot(), max(len(post_ms), 1)) if cpu else {},
        "peak_rss_mb": cpu.peak_rss_mb() if cpu else {},
    }


def _measure(base_url: str, senders: int, plan, send_one, cpu=None, settle=None) -> dict:
    """plan(clients, send) -> coroutine; the figures of what it sent: send_one(http) -> status. `settle()`, run
    after the last answer, waits for what the requests left to do (the worker processing the deliveries): CPU
    is read over the sending alone (`cpu`) and over sending and settling (`cpu_settled`)."""
    import httpx

    ack_ms: list[float] = []
    statuses: dict = {}

    async def send(http) -> None:
        start = time.perf_counter()
        try:
            status = await send_one(http)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        ack_ms.append((time.perf_counter() - start) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    async def main():
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
                       for _ in range(senders)]
            await plan(clients, send)

    before = cpu.snapshot() if cpu else None
    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    sent = cpu.snapshot() if cpu else None
    settled_seconds = settle() if settle else None
    accepted = sum(count for status, count in statuses.items() if isinstance(status, int) and 200 <= status < 300)
    figures = {"seconds": round(elapsed, 2), "sent": len(ack_ms), "accepted": accepted,
               "accepted_per_second": round(accepted / elapsed, 1) if elapsed else None, "ack": _stats(ack_ms),
               "statuses": {str(k): v for k, v in statuses.items()},
               "cpu": cpu.usage(before, sent, max(accepted, 1)) if cpu else {},
               "peak_rss_mb": cpu.peak_rss_mb() if cpu else {}}
    if settle:
        figures["settled_seconds"] = settled_seconds
        figures["cpu_settled"] = cpu.usage(before, cpu.snapshot(), max(accepted, 1)) if cpu else {}
    return figures


def run_github(report: dict, *, base_url: str, tenant: str, secret: str, senders: int, deliveries: int,
               rates: tuple[int, ...] = (), seconds: float = 10, cpu=None) -> None:
    """report["github_load"]: `deliveries` signed `push` deliveries from `senders` concurrent senders, each
    as soon as its previous one was acknowledged (the most Emma takes: its saturation); then, for each of
    `rates`, the same senders offering that many a second in all for `seconds` (the acknowledgement's
    latency at a given load, which a closed loop at saturation cannot show: there it is queueing)."""

    body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/shop"},
                       "head_commit": {"id": "0" * 40, "message": "bench"}, "commits": []}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    async def send_one(http):
        response = await http.post(f"/webhooks/github?tenant={tenant}", content=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature})
        return response.status_code

    def measure(plan) -> dict:
        """plan(senders' clients, send) -> coroutine; the figures of the deliveries it sent."""
        return _measure(base_url, senders, plan, send_one, cpu)

    async def closed_loop(https, send):
        remaining = iter(range(deliveries))

        async def sender(http):
            while next(remaining, None) is not None:
                await send(http)

        await asyncio.gather(*(sender(http) for http in https))

    def paced(rate: int):
        async def plan(https, send):
            per_sender, interval = max(1, int(rate * seconds / senders)), senders / rate
            start = time.perf_counter()
            await asyncio.gather(*(_paced(per_sender, interval, lambda n, http=http: send(http),
                                          start + index * interval / senders) for index, http in enumerate(https)))
        return plan

    report["github_load"] = {"senders": senders, "deliveries": deliveries, **measure(closed_loop),
                             "paced": [{"offered_per_second": rate, **measure(paced(rate))} for rate in rates]}
