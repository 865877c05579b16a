"""A tenant's registered GitHub endpoint under load, and the DORA summary over a year of events.

1. Webhooks (report["webhooks"]): signed `deployment_status` deliveries to a tenant's own endpoint
   (/webhooks/github/<endpoint id>, created here with integrations.registry.endpoint_create), from `senders`
   concurrent asyncio senders (httpx, a connection each): first `deliveries` in a closed loop (each sender
   sends its next once the last was answered: the most Emma acknowledges, where the latency is queueing),
   then paced at the goal's rate for `paced_seconds` (the acknowledgement's latency at that load). Baseline in
   the same run: the same senders, the same plans, against GET /health/live on the same gunicorn (a static
   JSON answer through the same middleware: the cheapest view Emma has).
   Goal: ≥ GOAL_PER_SECOND accepted/s at saturation and p95 ≤ GOAL_P95_MS at GOAL_PER_SECOND offered.

2. DORA summary (report["dora"]): a tenant of its own seeded with bulk_create straight into
   integrations.dora.models: `services` services deploying `per_week` times a week to production for 52 weeks
   (1 in 20 failing), two commits per deployment (linked as shipped), an incident a month per service. Then
   `calls` summaries of the past year, timed: GET /api/dora/summary over HTTP when this build has that route,
   and integrations.dora.selectors.summary in this process when that exists. A build with neither skips the
   section, saying so (the hook: `_summary_calls`).

Timings are reported, never enforced."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.load import _measure, _paced, _stats

GOAL_PER_SECOND = 300
GOAL_P95_MS = 50.0
BASELINE_PATH = "/health/live"
DORA_TENANT, DORA_USER = "bench-dora", "bench-dora"


# --- 1. the registered endpoint ---------------------------------------------------------------------------


def registered_endpoint(*, tenant: str, username: str):
    """A new GitHub endpoint of the tenant, as its admin creates one (the service the API calls), and its
    secret."""
    from django.contrib.auth import get_user_model

    from core.models import Tenant
    from integrations import registry

    tenant_id = Tenant.objects.get(slug=tenant).pk
    admin = get_user_model().objects.get(username=username)
    return registry.endpoint_create(tenant_id=tenant_id, user=admin, provider="github",
                                    name=f"bench {uuid.uuid4().hex[:8]}")


def deployment_status_bodies(count: int, *, secret: str, repo: str = "bench-org/shop") -> list[tuple[bytes, str]]:
    """`count` distinct deployment_status deliveries (as GitHub sends them) and their signatures, made before
    the clock starts."""
    made = []
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for n in range(count):
        deployment = {"id": 10_000_000 + n, "sha": f"{n:040x}", "ref": "main", "environment": "production",
                      "payload": {"service": f"service-{n % 50}"}, "created_at": now, "description": "bench"}
        body = json.dumps({"action": "created", "deployment": deployment,
                           "deployment_status": {"id": 20_000_000 + n, "state": "success", "created_at": now,
                                                 "log_url": f"https://github.com/{repo}/actions/runs/{n}"},
                           "repository": {"full_name": repo, "name": repo.split("/")[1]},
                           "sender": {"login": "octocat"}}).encode()
        made.append((body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()))
    return made


def processed(endpoint_id, timeout: float = 600) -> float | None:
    """Wait until the worker has processed every delivery of the endpoint; the seconds it took (None: not
    within `timeout`)."""
    from integrations.models import WebhookDelivery

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status="received").exists():
            return round(time.perf_counter() - started, 2)
        time.sleep(0.1)
    return None


def _closed_loop(count: int):
    async def plan(clients, send):
        remaining = iter(range(count))

        async def sender(http):
            while next(remaining, None) is not None:
                await send(http)

        await asyncio.gather(*(sender(http) for http in clients))
    return plan


def _paced_plan(rate: int, seconds: float):
    async def plan(clients, send):
        senders = len(clients)
        per_sender, interval = max(1, int(rate * seconds / senders)), senders / rate
        start = time.perf_counter()
        await asyncio.gather(*(_paced(per_sender, interval, lambda n, http=http: send(http),
                                      start + index * interval / senders) for index, http in enumerate(clients)))
    return plan


def run(report: dict, *, base_url: str, tenant: str, username: str, senders: int, deliveries: int,
        paced_seconds: float = 10, cpu=None) -> None:
    """report["webhooks"]: the registered endpoint and the baseline, at saturation and at the goal's rate."""
    endpoint, secret = registered_endpoint(tenant=tenant, username=username)
    paced_count = max(senders, int(GOAL_PER_SECOND * paced_seconds / senders) * senders)
    warm = senders * 2
    bodies = iter(deployment_status_bodies(warm + deliveries + paced_count, secret=secret))

    async def deliver(http) -> int:
        body, signature = next(bodies)
        response = await http.post(endpoint.path, content=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "deployment_status",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature})
        return response.status_code

    async def probe(http) -> int:
        return (await http.get(BASELINE_PATH)).status_code

    _measure(base_url, senders, _closed_loop(warm), deliver)  # connections, workers' first requests
    _measure(base_url, senders, _closed_loop(warm), probe)
    result = {"senders": senders, "deliveries": deliveries, "cores": os.cpu_count(), "endpoint": endpoint.path.replace(str(endpoint.pk),
                                                                                              "<id>"),
              "baseline_path": BASELINE_PATH, "goal_per_second": GOAL_PER_SECOND, "goal_p95_ms": GOAL_P95_MS}
    settle = lambda: processed(endpoint.pk)  # noqa: E731 - the next run starts with an idle worker
    settle()
    # The baselines first, each before its delivery run: the worker is idle while they run.
    result["baseline_saturation"] = _measure(base_url, senders, _closed_loop(deliveries), probe, cpu)
    result["saturation"] = _measure(base_url, senders, _closed_loop(deliveries), deliver, cpu, settle)
    result["baseline_paced"] = {"offered_per_second": GOAL_PER_SECOND,
                                **_measure(base_url, senders, _paced_plan(GOAL_PER_SECOND, paced_seconds), probe, cpu)}
    result["paced"] = {"offered_per_second": GOAL_PER_SECOND,
                       **_measure(base_url, senders, _paced_plan(GOAL_PER_SECOND, paced_seconds), deliver, cpu,
                                  settle)}
    rate, p95 = result["saturation"]["accepted_per_second"], result["paced"]["ack"]["p95_ms"]
    result["throughput_met"] = None if rate is None else rate >= GOAL_PER_SECOND
    result["latency_met"] = None if p95 is None else p95 <= GOAL_P95_MS
    report["webhooks"] = result


# --- 2. the DORA summary ------------------------------------------------------------------------------------


def dora_seed(*, services: int, per_week: int, password: str, weeks: int = 52, incidents_per_service: int = 12) -> dict:
    """A tenant of its own (DORA_TENANT, with an admin DORA_USER signing in with `password`) and a year of its
    engineering events, bulk-created. Answers the tenant id, the window and the counts."""
    import random

    from core import services as core_services
    from integrations.dora.models import Change, Deployment, DeploymentChange, Incident

    rng = random.Random(20)
    user = core_services.user_upsert(username=DORA_USER, password=password, tenant_slug=DORA_TENANT, role="admin")
    tenant_id = user.memberships.get().tenant_id
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(weeks=weeks)
    deployments, changes, shipped, incidents = [], [], [], []
    for service in range(services):
        name, repo = f"service-{service:02d}", f"bench-org/service-{service:02d}"
        for n in range(weeks * per_week):
            finished = start + timedelta(seconds=rng.uniform(0, weeks * 7 * 86400))
            shas = [f"{service:04x}{n:06x}{k:030x}" for k in range(2)]
            key = f"{service}-{n}"
            deployments.append(Deployment(
                tenant_id=tenant_id, provider="github", key=key, title=f"Deploy {name}", service=name,
                environment="production", status="failure" if rng.random() < 0.05 else "success", sha=shas[-1],
                repository=repo, started_at=finished - timedelta(minutes=5), finished_at=finished))
            for k, sha in enumerate(shas):
                committed = finished - timedelta(hours=rng.uniform(1, 72)) - timedelta(minutes=k)
                changes.append(Change(tenant_id=tenant_id, provider="github", key=sha, repository=repo, sha=sha,
                                      committed_at=committed, authored_at=committed, push=shas[-1],
                                      title=f"Change {n}.{k}"))
                shipped.append((key, sha))
        for n in range(incidents_per_service):
            opened = start + timedelta(seconds=rng.uniform(0, weeks * 7 * 86400))
            incidents.append(Incident(tenant_id=tenant_id, provider="pagerduty", key=f"{service}-inc-{n}",
                                      service=name, environment="production", status="resolved", severity="high",
                                      opened_at=opened, acknowledged_at=opened + timedelta(minutes=5),
                                      resolved_at=opened + timedelta(hours=rng.uniform(0.2, 8))))
    started = time.perf_counter()
    Deployment.objects.bulk_create(deployments, batch_size=2000)
    ids = dict(Deployment.objects.filter(tenant_id=tenant_id).values_list("key", "pk"))
    Change.objects.bulk_create(changes, batch_size=2000)
    DeploymentChange.objects.bulk_create([DeploymentChange(deployment_id=ids[key], sha=sha) for key, sha in shipped],
                                         batch_size=5000)
    Incident.objects.bulk_create(incidents, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:  # the planner sees the year just loaded, as it would after autovacuum
        for model in (Deployment, Change, DeploymentChange, Incident):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return {"tenant_id": tenant_id, "start": start, "end": end, "deployments": len(deployments),
            "changes": len(changes), "incidents": len(incidents), "seed_seconds": round(time.perf_counter() - started, 1)}


def _summary_calls(*, base_url: str, password: str, tenant_id: int, start: datetime, end: datetime):
    """THE HOOK: what times one summary of the past year, by how this build offers it: {label: call}. Empty
    when the build has neither GET /api/dora/summary nor integrations.dora.selectors.summary."""
    import importlib

    from django.urls import Resolver404, resolve

    calls = {}
    try:
        resolve("/api/dora/summary")
        routed = True
    except Resolver404:
        routed = False
    if routed:
        import httpx

        token = httpx.post(f"{base_url}/api/auth/token", json={"username": DORA_USER, "password": password},
                           timeout=30).raise_for_status().json()["access"]
        http = httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"})
        window = {"from": start.isoformat(), "to": end.isoformat()}

        def over_http():
            response = http.get("/api/dora/summary", params=window)
            if response.status_code != 200:
                raise RuntimeError(f"GET /api/dora/summary answered {response.status_code}: {response.text[:300]}")

        calls["GET /api/dora/summary (gunicorn, whole request)"] = over_http
    try:
        selectors = importlib.import_module("integrations.dora.selectors")
    except ImportError:
        selectors = None
    if selectors is not None and hasattr(selectors, "summary"):
        if hasattr(selectors, "scope"):  # summary(Scope): the scope built as the API builds it
            def in_process():
                selectors.summary(selectors.scope(tenant_id=tenant_id, start=start, end=end))
        else:
            def in_process():
                selectors.summary(tenant_id=tenant_id, start=start, end=end)

        calls["integrations.dora.selectors.summary (in process)"] = in_process
    return calls


def run_dora(report: dict, *, base_url: str, services: int, per_week: int, calls: int) -> None:
    """report["dora"]: the seeded year and each summary's latency; `skipped` says why when nothing was timed."""
    password = f"bench-dora-{uuid.uuid4().hex[:12]}"
    seed = dora_seed(services=services, per_week=per_week, password=password)
    result = {"services": services, "per_week": per_week, "calls": calls,
              **{k: seed[k] for k in ("deployments", "changes", "incidents", "seed_seconds")}, "timings": {}}
    timed = _summary_calls(base_url=base_url, password=password, tenant_id=seed["tenant_id"], start=seed["start"],
                           end=seed["end"])
    if not timed:
        result["skipped"] = ("this build has neither GET /api/dora/summary nor integrations.dora.selectors.summary: "
                             "the year was seeded, nothing was timed")
    for label, call in timed.items():
        call()  # warm: imports, connections, plans
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        result["timings"][label] = _stats(samples)
    report["dora"] = result


# --- the report ------------------------------------------------------------------------------------------------

SERVING = ("web", "worker", "postgres", "valkey", "redis", "rabbitmq")


def serving_ms(figures: dict, key: str = "cpu") -> float | None:
    """CPU ms per request of the processes that serve it (not the client, not the rest of the machine)."""
    usage = figures.get(key) or {}
    served = [usage[group]["ms_per_task"] for group in SERVING if (usage.get(group) or {}).get("ms_per_task")]
    return round(sum(served), 2) if served else None


def ceiling(hooks: dict, figures: dict, key: str = "cpu") -> float | None:
    spent = serving_ms(figures, key)
    return hooks["cores"] * 1000 / spent if spent and hooks.get("cores") else None



def markdown(report: dict, *, fmt, met) -> list[str]:
    """The sections of docs/BENCHMARKS.md for report["webhooks"] and report["dora"] (fmt, met: the writer's)."""
    lines: list[str] = []
    hooks = report.get("webhooks")
    if hooks:
        sat, base, paced, base_paced = (hooks["saturation"], hooks["baseline_saturation"], hooks["paced"],
                                        hooks["baseline_paced"])

        def row(label, figures, goal="", verdict=""):
            ack = figures["ack"]
            return (f"| {label} | {fmt(figures['accepted_per_second'])} | {fmt(ack['p50_ms'], ' ms')} / "
                    f"{fmt(ack['p95_ms'], ' ms')} / {fmt(ack['p99_ms'], ' ms')} | {figures['statuses']} | "
                    f"{fmt(serving_ms(figures), ' ms', 2)} | {goal} | {verdict} |")

        lines += [
            "## A tenant's registered GitHub endpoint",
            "",
            f"Signed `deployment_status` deliveries (`X-Hub-Signature-256` with the endpoint's own secret) to "
            f"`{hooks['endpoint']}`, an endpoint created for the bench tenant by `integrations.registry."
            f"endpoint_create`, from {hooks['senders']} concurrent senders (httpx, a connection each): {hooks['deliveries']} "
            "in a closed loop (each sender sends its next once the last was answered: saturation, where the latency "
            f"is queueing), then {GOAL_PER_SECOND}/s offered, paced on one clock. Baseline, same senders and plans, "
            f"same gunicorn: `GET {hooks['baseline_path']}` (a static JSON answer through the same middleware, the "
            "cheapest view there is). Each delivery is verified, stored once and queued for processing before the "
            "200; the worker stores its deployment meanwhile.",
            "",
            "| Load | Answered 2xx per second | Acknowledgement p50 / p95 / p99 | Answers | Serving CPU per request "
            "| Goal | |",
            "|---|---|---|---|---|---|---|",
            row("Registered endpoint, closed loop", sat, f"≥ {GOAL_PER_SECOND}/s", met(hooks["throughput_met"])),
            row(f"Baseline `GET {hooks['baseline_path']}`, closed loop", base),
            row(f"Registered endpoint, {GOAL_PER_SECOND}/s offered for {paced['seconds']} s", paced,
                f"p95 ≤ {GOAL_P95_MS:.0f} ms", met(hooks["latency_met"])),
            row(f"Baseline, {GOAL_PER_SECOND}/s offered for {base_paced['seconds']} s", base_paced),
            "",
            "Serving CPU per request answered (from `/proc`): gunicorn, the worker, PostgreSQL and Valkey while the "
            "requests were sent (the worker processing deliveries meanwhile). A delivery's whole cost, received, "
            "acknowledged and processed (read until the worker had processed the last one, "
            f"{fmt(sat.get('settled_seconds'), ' s', 1)} after the last answer): "
            f"{fmt(serving_ms(sat, 'cpu_settled'), ' ms', 2)}. CPU per request is the steadier figure on a shared "
            f"machine: on {hooks.get('cores') or '?'} cores, alone, the CPU-bound ceiling (cores ÷ that cost) is "
            f"about {fmt(ceiling(hooks, sat, 'cpu_settled'), '/s', 0)} deliveries received and processed, against "
            f"{fmt(ceiling(hooks, base), '/s', 0)} `GET {hooks['baseline_path']}`; the rest of the machine (not this "
            f"benchmark) kept {fmt(((sat.get('cpu') or {}).get('other') or {}).get('cores'), ' cores', 2)} busy "
            "during the closed loop.",
            "",
        ]
    dora = report.get("dora")
    if dora:
        lines += [
            "## DORA summary over a year",
            "",
            f"One tenant, {dora['services']} services deploying {dora['per_week']} times a week to production for 52 "
            f"weeks: {dora['deployments']:,} deployments (1 in 20 failed), {dora['changes']:,} changes (two commits "
            f"shipped by each deployment), {dora['incidents']:,} incidents; bulk-created in {dora['seed_seconds']} s. "
            f"Each figure: {dora['calls']} summaries of the whole year, one after another, after one warm-up call. "
            "No goal is set.",
            "",
        ]
        if dora.get("skipped"):
            lines += [f"Not timed: {dora['skipped']}.", ""]
        else:
            lines += ["| Summary of the year | p50 | p95 | max |", "|---|---|---|---|"]
            lines += [f"| {label} | {fmt(t['p50_ms'], ' ms')} | {fmt(t['p95_ms'], ' ms')} | {fmt(t['max_ms'], ' ms')} |"
                      for label, t in dora["timings"].items()]
            lines += [""]
    return lines
