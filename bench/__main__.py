"""`make bench`: agent-task throughput and latency against a raw Celery baseline, and the embedder.

Starts an embedded PostgreSQL and Valkey in a scratch EMMA_DATA_DIR (.emma/bench) unless
DATABASE_URL / REDIS_URL are set, migrates, creates a benchmark user, then in one run on one broker:

1. raw Celery: a no-op task on a queue of its own, a 2-process prefork worker; round trip and throughput;
2. Emma's full path: gunicorn and a 2-process worker on Emma's queues; tasks submitted over HTTP
   until they have succeeded; sequential (unloaded) and sustained (8 client threads);
3. the MiniLM embedder (bench/embedding.py).

Writes docs/BENCHMARKS.md (or BENCH_DOCS) and prints the same summary. Timings never fail the run:
the exit code is non-zero only when something crashed. Every process started here is stopped at
the end, error or not; the logs stay in .emma/bench/logs after a failure (or with BENCH_KEEP_DATA=1).

Sizes: BENCH_RAW_TASKS (2000), BENCH_RAW_ROUND_TRIPS (200), BENCH_TASKS (1000), BENCH_THREADS (8),
BENCH_SEQUENTIAL (100), BENCH_BATCH_TASKS (2000), BENCH_BATCH_SIZE (100), BENCH_WEB_CONCURRENCY (2),
BENCH_WORKER_CONCURRENCY (2), BENCH_WEBHOOK_SENDERS (50), BENCH_WEBHOOK_DELIVERIES (3000),
BENCH_WEBHOOK_PACED_SECONDS (10), BENCH_DORA_SERVICES (50), BENCH_DORA_PER_WEEK (3), BENCH_DORA_CALLS (50).
BENCH_JSON=path also writes the raw figures as JSON.

`python -m bench webhooks` runs only bench/webhooks.py (a tenant's registered GitHub endpoint against a
baseline, and the DORA summary over a year) on its own stack (gunicorn and a worker), prints its sections and
leaves docs/BENCHMARKS.md as it is.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from devstack import embedded
from devstack.embedded import free_port
from devstack.stack import BASE_DIR, Stack, celery, gunicorn

USERNAME, PASSWORD, TENANT = "bench", "bench-password-1", "bench"
GITHUB_SECRET = "bench-github-secret"
APPROVER = "bench-approver"

# Goals (see docs/BENCHMARKS.md): reported against, never enforced.
THROUGHPUT_GOAL_RATIO = 0.5
LATENCY_GOAL_MS = 15.0  # submit -> succeeded, p50, unloaded, by the database's timestamps


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SETTINGS = {
    "raw_tasks": _int_env("BENCH_RAW_TASKS", 2000),
    "raw_round_trips": _int_env("BENCH_RAW_ROUND_TRIPS", 200),
    "tasks": _int_env("BENCH_TASKS", 1000),
    "threads": _int_env("BENCH_THREADS", 8),
    "sequential": _int_env("BENCH_SEQUENTIAL", 100),
    "web_concurrency": _int_env("BENCH_WEB_CONCURRENCY", 2),
    "worker_concurrency": _int_env("BENCH_WORKER_CONCURRENCY", 2),
    "batch_tasks": _int_env("BENCH_BATCH_TASKS", 2000),
    "load_clients": _int_env("BENCH_LOAD_CLIENTS", 50),
    "deadlines": _int_env("BENCH_DEADLINES", 1000),
    "outbox_messages": _int_env("BENCH_OUTBOX_MESSAGES", 1000),
    "load_rate": _int_env("BENCH_LOAD_RATE", 30),
    "load_seconds": _int_env("BENCH_LOAD_SECONDS", 20),
    "github_deliveries": _int_env("BENCH_GITHUB_DELIVERIES", 3000),
    "github_rates": tuple(int(rate) for rate in os.environ.get("BENCH_GITHUB_RATES", "150,300").split(",") if rate),
    "batch_size": _int_env("BENCH_BATCH_SIZE", 100),
    "agent_runs": _int_env("BENCH_AGENT_RUNS", 20),
    "agent_tool_steps": _int_env("BENCH_AGENT_TOOL_STEPS", 5),
    "webhook_senders": _int_env("BENCH_WEBHOOK_SENDERS", 50),
    "webhook_deliveries": _int_env("BENCH_WEBHOOK_DELIVERIES", 3000),
    "webhook_paced_seconds": _int_env("BENCH_WEBHOOK_PACED_SECONDS", 10),
    "dora_services": _int_env("BENCH_DORA_SERVICES", 50),
    "dora_per_week": _int_env("BENCH_DORA_PER_WEEK", 3),
    "dora_calls": _int_env("BENCH_DORA_CALLS", 50),
}


def say(message: str) -> None:
    print(f"bench | {message}", flush=True)


class ProcessDied(RuntimeError):
    pass


class Bench:
    def __init__(self):
        # Scratch space of this run alone: wiped at the start, removed after a successful run.
        self.stack = Stack(BASE_DIR / ".emma" / "bench")
        self.data_dir = self.stack.data_dir
        self.log_dir = self.data_dir / "logs"
        self.env: dict = {}

    @property
    def processes(self):
        return self.stack.processes

    @property
    def services(self):
        return self.stack.services

    # --- services and processes -----------------------------------------------------------------

    def environment(self) -> dict:
        if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
            running = embedded.find(self.data_dir, database=True, redis=True)
            if running.database_url or running.redis_url:
                raise SystemExit(f"bench | embedded services are already running in {self.data_dir}: "
                                 "is another `make bench` running?")
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a fresh database every run
        env = self.stack.environment(on_start=lambda names: say(
            f"starting embedded {' and '.join(names)} in {self.data_dir}"))
        self.log_dir.mkdir(exist_ok=True)
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "RATE_LIMIT_PER_MIN": str(10**9),  # throttling must not shape the figures
            "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
            "WEB_CONCURRENCY": str(SETTINGS["web_concurrency"]),
        })
        # This process publishes the baseline's tasks and reads settings: same environment.
        os.environ.update(env)
        return env

    def manage(self, *args: str) -> str:
        return self.stack.manage(self.env, *args)

    def spawn(self, name: str, args: list[str], env: dict | None = None):
        return self.stack.spawn(name, args, env or self.env, log_path=self.log_dir / f"{name}.log")

    def alive(self) -> None:
        exited = self.stack.exited()
        if exited:
            tail = (self.log_dir / f"{exited[0]}.log").read_text(errors="replace")[-3000:]
            raise ProcessDied(f"{exited[0]} exited with code {exited[1]}:\n{tail}")

    def stop_process(self, name: str) -> None:
        self.stack.stop_process(name, timeout=20)

    def stop_all(self) -> None:
        self.stack.stop()

    def classifier(self):
        """Which component each local process belongs to, for CPU accounting."""
        import psycopg
        import redis as redis_lib

        from bench.tasks import _proc_stat

        postmaster = redis_pid = None  # a server on another host has no process here
        if _is_local(self.env["DATABASE_URL"]):
            with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
                backend = _proc_stat(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            postmaster = backend[1] if backend else None  # a backend's parent
        if _is_local(self.env["REDIS_URL"]):
            redis_pid = redis_lib.Redis.from_url(self.env["REDIS_URL"]).info("server").get("process_id")
        redis_name = "valkey" if self.services and "valkey" in self.services.started else "redis"
        broker = self.env.get("CELERY_BROKER_URL", "")
        rabbit = urlsplit(broker).scheme.startswith("amqp") and _is_local(broker)
        me = os.getpid()

        def classify(pid, comm, ppid, pgrp):
            if pid == me:
                return "client"
            for name, process in self.processes.items():
                if pgrp == process.pid:
                    return "web" if name == "web" else "worker"
            if postmaster and postmaster in (pid, ppid):
                return "postgres"
            if pid == redis_pid:
                return redis_name
            if rabbit and comm == "beam.smp":
                return "rabbitmq"
            return None

        return classify

    # --- the run --------------------------------------------------------------------------------

    def start(self, *users: tuple[str, str]) -> tuple[float, dict, object]:
        """What every run starts with: migrations, the bench users (username, role), Django in this process, and
        the report's machine facts; answers the start time, the report and the CPU meter."""
        started = time.monotonic()
        loadavg = " ".join(_read("/proc/loadavg").split()[:3])
        report: dict = {"settings": dict(SETTINGS)}
        self.env = self.environment()
        say("applying migrations")
        self.manage("migrate", "--noinput")
        for username, role in users:
            self.manage("emma_user", "--username", username, "--password", PASSWORD, "--tenant", TENANT,
                        "--role", role)
        import logging

        import django

        django.setup()
        for noisy in ("httpx", "httpcore"):  # one INFO line per request otherwise
            logging.getLogger(noisy).setLevel(logging.WARNING)
        from bench import tasks as task_bench

        report["meta"] = machine_facts(self.env, self.services.started if self.services else [])
        report["meta"]["loadavg"] = loadavg  # before this run added its own
        return started, report, task_bench.CpuMeter(self.classifier())

    def run(self) -> dict:
        started, report, cpu = self.start((USERNAME, "admin"), (APPROVER, "approver"))
        from bench import tasks as task_bench

        # 1. raw Celery on the same broker, the same Celery settings, its own queue.
        say("baseline: raw Celery no-op, worker -c "
            f"{SETTINGS['worker_concurrency']} prefork on queue 'bench'")
        self.spawn("celery-baseline", celery(
            "worker", "-Q", "bench", "-c", str(SETTINGS["worker_concurrency"]), "-P", "prefork",
            "-n", "bench-baseline@%h", "--without-mingle", "--without-gossip", "-I", "bench.tasks", "-l", "INFO"))
        try:
            task_bench.run_celery_baseline(report, tasks=SETTINGS["raw_tasks"],
                                           round_trips=SETTINGS["raw_round_trips"], alive=self.alive, cpu=cpu)
        finally:
            self.stop_process("celery-baseline")
            delete_bench_queue()
        say(f"baseline done: {json.dumps(report['celery'])}")

        # 2. Emma's full path.
        from bench import agent as agent_bench

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        model = agent_bench.start_model()  # the loopback model agent runs talk to (section 2b)
        from bench import outbox as outbox_bench

        slack = outbox_bench.Slack()  # the loopback Slack the outbox sends to
        web_env = {**self.env, "EMMA_WEB_BIND": f"127.0.0.1:{port}", **agent_bench.model_environment(model),
                   **slack.environment()}
        say(f"full path: gunicorn ({SETTINGS['web_concurrency']} workers) on {base_url}, worker -c "
            f"{SETTINGS['worker_concurrency']} prefork on every queue")
        self.spawn("web", gunicorn(), web_env)
        self.spawn("worker", celery(
            "worker", "-c", str(SETTINGS["worker_concurrency"]), "-P", "prefork",
            "-n", "bench-emma@%h", "--without-mingle", "--without-gossip", "-l", "INFO"), web_env)
        try:
            wait_for_web(f"{base_url}/health/live", self.alive)
            token = obtain_token(base_url)
            set_policy(base_url, token)
            emma = task_bench.EmmaClient(base_url, self.env["DATABASE_URL"], token)
            try:
                task_bench.run_emma(report, emma, tasks=SETTINGS["tasks"], threads=SETTINGS["threads"],
                                    sequential=SETTINGS["sequential"], alive=self.alive, cpu=cpu)
                say(f"batch path: {SETTINGS['batch_tasks']} tasks, {SETTINGS['batch_size']} per request")
                task_bench.run_emma_batch(report, emma, tasks=SETTINGS["batch_tasks"], batch=SETTINGS["batch_size"],
                                          threads=2, alive=self.alive, cpu=cpu)
                say("priorities: 1000 priority-9 tasks queued, then one of priority 1")
                task_bench.run_priority(report, emma, backlog=1000, alive=self.alive)
                say(f"outbox: {SETTINGS['outbox_messages']} message.send tasks to a loopback Slack")
                outbox_bench.run(report, emma, slack, messages=SETTINGS["outbox_messages"], alive=self.alive)
                from bench import escalations as deadline_bench
                from bench import load

                say(f"deadlines: {SETTINGS['deadlines']} escalations due over a minute, beat sweeping")
                self.manage("setup_periodic_tasks")
                self.spawn("beat", celery("beat", "-l", "INFO"), web_env)
                try:
                    deadline_bench.run(report, emma, escalations=SETTINGS["deadlines"], spread_seconds=60,
                                       alive=self.alive)
                finally:
                    self.stop_process("beat")

                say(f"API load: {SETTINGS['load_clients']} asyncio clients offering {SETTINGS['load_rate']} "
                    "submissions/s, each followed by a read")
                load.run_api(report, base_url=base_url, token=token, clients=SETTINGS["load_clients"],
                             rate=SETTINGS["load_rate"], seconds=SETTINGS["load_seconds"], cpu=cpu)
                say(f"GitHub: {SETTINGS['github_deliveries']} signed deliveries from {SETTINGS['load_clients']} senders")
                load.run_github(report, base_url=base_url, tenant=TENANT, secret=GITHUB_SECRET,
                                senders=SETTINGS["load_clients"], deliveries=SETTINGS["github_deliveries"],
                                rates=SETTINGS["github_rates"], cpu=cpu)
                run_webhook_sections(report, base_url, cpu)
                # 2b. Agent runs on the same stack: overhead per step, resume latency after an approval.
                say(f"agent runs: {SETTINGS['agent_runs']} of {SETTINGS['agent_tool_steps']} tool steps, then "
                    f"{SETTINGS['agent_runs']} paused and approved")
                with emma.http() as client, agent_bench.http_as(base_url, APPROVER, PASSWORD) as approver:
                    agent_bench.run(report, model=model, client=client, approver=approver, emma=emma,
                                    runs=SETTINGS["agent_runs"], tool_steps=SETTINGS["agent_tool_steps"],
                                    alive=self.alive)
                say(f"agent runs done: {json.dumps(report['agent'])}")
            finally:
                emma.close()
        finally:
            self.stop_process("worker")
            self.stop_process("web")
        say(f"full path done: {json.dumps(report['emma'])}")

        # 3. The embedder, on a quiet machine.
        say("embedding: MiniLM")
        from bench import embedding

        embedding.run(report)

        # 4. Semantic memory at 100,000 items, or a million with BENCH_SCALE=large (bench/memory.py).
        from bench import memory as memory_bench

        say(f"semantic memory: {memory_bench.ITEMS:,} items")
        memory_bench.run(report)
        memory_bench.keep_large_run(report["memory"], report["meta"])
        report["meta"]["bench_seconds"] = round(time.monotonic() - started, 1)
        return report


    def run_webhooks(self) -> dict:
        """`python -m bench webhooks`: bench/webhooks.py alone, on gunicorn and a worker as the full run starts
        them."""
        started, report, cpu = self.start((USERNAME, "admin"))
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        web_env = {**self.env, "EMMA_WEB_BIND": f"127.0.0.1:{port}"}
        say(f"gunicorn ({SETTINGS['web_concurrency']} workers) on {base_url}, worker -c "
            f"{SETTINGS['worker_concurrency']} prefork on every queue")
        self.spawn("web", gunicorn(), web_env)
        self.spawn("worker", celery(
            "worker", "-c", str(SETTINGS["worker_concurrency"]), "-P", "prefork",
            "-n", "bench-emma@%h", "--without-mingle", "--without-gossip", "-l", "INFO"), web_env)
        try:
            wait_for_web(f"{base_url}/health/live", self.alive)
            run_webhook_sections(report, base_url, cpu)
        finally:
            self.stop_process("worker")
            self.stop_process("web")
        report["meta"]["bench_seconds"] = round(time.monotonic() - started, 1)
        return report


def run_webhook_sections(report: dict, base_url: str, cpu) -> None:
    """bench/webhooks.py's two sections on a running stack."""
    from bench import webhooks as webhook_bench

    say(f"registered GitHub endpoint: {SETTINGS['webhook_deliveries']} signed deliveries from "
        f"{SETTINGS['webhook_senders']} senders, then {webhook_bench.GOAL_PER_SECOND}/s for "
        f"{SETTINGS['webhook_paced_seconds']} s; baseline GET {webhook_bench.BASELINE_PATH}")
    webhook_bench.run(report, base_url=base_url, tenant=TENANT, username=USERNAME,
                      senders=SETTINGS["webhook_senders"], deliveries=SETTINGS["webhook_deliveries"],
                      paced_seconds=SETTINGS["webhook_paced_seconds"], cpu=cpu)
    say(f"DORA summary: a year of {SETTINGS['dora_services']} services deploying {SETTINGS['dora_per_week']} "
        f"times a week, {SETTINGS['dora_calls']} summaries")
    webhook_bench.run_dora(report, base_url=base_url, services=SETTINGS["dora_services"],
                           per_week=SETTINGS["dora_per_week"], calls=SETTINGS["dora_calls"])
    if report["dora"].get("skipped"):
        say(f"DORA summary skipped: {report['dora']['skipped']}")


# --- helpers ------------------------------------------------------------------------------------


def _is_local(url: str) -> bool:
    """Whether a service URL points at this machine (loopback or a Unix socket)."""
    host = urlsplit(url).hostname or ""
    return host in ("", "localhost", "127.0.0.1", "::1") or host.lower().startswith(("%2f", "/"))


def wait_for_web(url: str, alive, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _request(method: str, url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def obtain_token(base_url: str) -> str:
    return _request("POST", f"{base_url}/api/auth/token", {"username": USERNAME, "password": PASSWORD})["access"]


def set_policy(base_url: str, token: str) -> None:
    """diagnostic.echo runs without approval (the default `supervised` policy allows it already; an
    explicit rule keeps that true whatever AUTONOMY_LEVEL says). Each submission checks the decision."""
    _request("PUT", f"{base_url}/api/governance/policy", {"rules": {
        "diagnostic.echo": "allow", "agent.run": "allow", "tool:diagnostic.echo": "allow", "message.send": "allow",
        "tool:webhook.post": "escalate"}}, token)


def delete_bench_queue() -> None:
    """Leave no 'bench' queue behind on a shared broker (RabbitMQ keeps durable queues)."""
    try:
        from bench.tasks import BENCH_QUEUE
        from config.celery_app import app

        with app.connection_for_write() as connection:
            BENCH_QUEUE.bind(connection.default_channel).delete()
    except Exception as exc:  # noqa: BLE001 — tidying only
        say(f"could not delete the bench queue: {exc}")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_facts(env: dict, embedded_services: list[str]) -> dict:
    import psycopg
    import redis as redis_lib

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    info = redis_lib.Redis.from_url(env["REDIS_URL"]).info("server")
    redis_version = (f"Valkey {info['valkey_version']}" if "valkey_version" in info
                     else f"Redis {info.get('redis_version', '?')}")
    broker_url = env.get("CELERY_BROKER_URL") or env["REDIS_URL"]
    broker_scheme = urlsplit(broker_url).scheme
    broker = f"{broker_scheme}:// ({redis_version}, the same server)" if broker_url == env["REDIS_URL"] else \
        f"{broker_scheme}://{' ' + rabbitmq_version() if broker_scheme.startswith('amqp') else ''}"
    commit = _git("rev-parse", "--short=12", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    import celery
    import django
    import gunicorn

    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "postgres": f"PostgreSQL {postgres}" + (" (embedded, Unix socket)" if "postgres" in embedded_services else ""),
        "redis": redis_version + (" (embedded)" if "valkey" in embedded_services else ""),
        "broker": broker,
        "result_backend": f"{urlsplit(env['REDIS_URL']).scheme}:// ({redis_version})",
        "versions": f"Django {django.get_version()}, Celery {celery.__version__}, gunicorn {gunicorn.__version__}",
    }


def rabbitmq_version() -> str:
    try:
        from config.celery_app import app

        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            properties = connection.connection.server_properties
            return f"({properties.get('product', 'RabbitMQ')} {properties.get('version', '?')})"
    except Exception:  # noqa: BLE001
        return ""


# --- the report ---------------------------------------------------------------------------------


def _f(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def render(report: dict) -> str:
    meta, celery_r, emma, s = report["meta"], report.get("celery"), report.get("emma"), report["settings"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/`); regenerate rather than edit. Figures are from one run on the",
        "machine below and move with it: read each against its baseline from the same run.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| Date | {meta['date_utc']} |",
        f"| Commit | `{meta['commit']}` |",
        f"| CPU | {meta['cpu']}, {meta['cores']} cores |",
        f"| Memory | {meta['memory_gib']} GiB |",
        f"| Load average before the run | {meta['loadavg']} (1, 5, 15 min) |",
        f"| OS | {meta['os']} |",
        f"| Python | {meta['python']} ({meta['versions']}) |",
        f"| Database | {meta['postgres']} |",
        f"| Cache, result backend | {meta['redis']} |",
        f"| Celery broker | {meta['broker']} |",
        f"| Web | gunicorn, {s['web_concurrency']} gthread workers (config/gunicorn.py) |",
        f"| Workers | Celery prefork, {s['worker_concurrency']} processes (baseline and Emma alike) |",
        "",
    ]
    goals = report["goals"]
    batch = report.get("emma_batch")
    if celery_r and emma:
        raw_cpu = _server_ms(celery_r["throughput"].get("cpu", {}))
        single_cpu = _server_ms(emma["throughput"].get("cpu", {}))
        batch_cpu = _server_ms(batch.get("cpu", {})) if batch else None
        raw_rate = celery_r["throughput"]["per_second"]
        lines += [
            "## Governance's price: CPU per task against a bare Celery message",
            "",
            "CPU time per task of everything serving it (web, worker, PostgreSQL, the broker; not the benchmark's",
            "client), from the throughput runs below, against the raw Celery no-op's on the same broker in this run.",
            "",
            "| Path | CPU per task | Baseline | Ratio | Goal | |",
            "|---|---|---|---|---|---|",
            f"| One task per request (`POST /api/tasks`) | {_f(single_cpu, ' ms', 2)} | {_f(raw_cpu, ' ms', 2)} | "
            f"{_f(_ratio(single_cpu, raw_cpu), '×', 2)} | ≤ 2× | {_met(_at_most(_ratio(single_cpu, raw_cpu), 2))} |",
        ]
        if batch:
            ratio = _ratio(batch["per_second"], raw_rate)
            lines += [
                f"| {batch['batch']} tasks per request (`POST /api/tasks/batch`) | {_f(batch_cpu, ' ms', 2)} | "
                f"{_f(raw_cpu, ' ms', 2)} | {_f(_ratio(batch_cpu, raw_cpu), '×', 2)} | ≤ 1.5× | "
                f"{_met(_at_most(_ratio(batch_cpu, raw_cpu), 1.5))} |",
                f"| Batch path throughput, submit to done | {_f(batch['per_second'])} tasks/s | {_f(raw_rate)} tasks/s | "
                f"{_f(ratio * 100 if ratio else None, ' %', 0)} | ≥ 60 % | {_met(None if ratio is None else ratio >= 0.6)} |",
                "",
                f"The batch run: {batch['accepted']} of {batch['tasks']} `diagnostic.echo` tasks accepted in requests of "
                f"{batch['batch']} from {batch['threads']} client threads (request p50 / p95 "
                f"{_f(batch['http_post']['p50_ms'], ' ms')} / {_f(batch['http_post']['p95_ms'], ' ms')}), "
                f"{batch['succeeded']} succeeded, {batch['errors']} submit errors, in {batch['seconds']} s; peak RSS "
                f"of one web / worker process {_f(batch.get('peak_rss_mb', {}).get('web'), ' MiB')} / "
                f"{_f(batch.get('peak_rss_mb', {}).get('worker'), ' MiB')}.",
            ]
        lines += [""]
    if celery_r and emma:
        ct, et = celery_r["throughput"], emma["throughput"]
        crt, seq = celery_r["round_trip"], emma["sequential"]
        lines += [
            "## Agent tasks: throughput",
            "",
            f"Emma: {et['tasks']} `diagnostic.echo` tasks submitted over HTTP by {et['threads']} client threads, timed",
            f"until all succeeded. Baseline: {ct['tasks']} no-op Celery tasks from one producer, timed until all ran.",
            "",
            "| Figure | Emma (full path) | Raw Celery baseline | Emma / baseline | Goal | |",
            "|---|---|---|---|---|---|",
            f"| Tasks/s, submit to done | {_f(et['per_second'])} | {_f(ct['per_second'])} | "
            f"{_f(goals['throughput_ratio'] * 100, ' %', 0)} | ≥ {THROUGHPUT_GOAL_RATIO:.0%} of baseline | "
            f"{_met(goals['throughput_met'])} |",
            f"| Submissions accepted/s | {_f(et['submit_per_second'])} (HTTP 202) | {_f(ct['publish_per_second'])} "
            "(publishes) | | | |",
            f"| Submit latency p50 / p95 under load | {_f(et['http_post']['p50_ms'], ' ms')} / "
            f"{_f(et['http_post']['p95_ms'], ' ms')} (HTTP POST) | | | | |",
            f"| Task latency p50 / p95 under load | {_f(et['db']['created_to_finished']['p50_ms'], ' ms')} / "
            f"{_f(et['db']['created_to_finished']['p95_ms'], ' ms')} (created → finished) | | | | |",
            f"| Succeeded / failed / submit errors | {et['succeeded']} / "
            f"{sum(v for k, v in et['statuses'].items() if k != 'succeeded')} / {et['errors']} | "
            f"{ct['completed']} / 0 / 0 | | | |",
            *database_rows(et.get("database", {})),
            f"| Peak RSS of one web / worker process (so far) | {_f(et.get('peak_rss_mb', {}).get('web'), ' MiB')} / "
            f"{_f(et.get('peak_rss_mb', {}).get('worker'), ' MiB')} | | | | |",
            "",
            *cpu_table(et.get("cpu", {}), ct.get("cpu", {})),
            "## Agent tasks: latency, one at a time (unloaded)",
            "",
            f"Emma: {seq['tasks']} sequential tasks, each submitted once the one before succeeded. Baseline:",
            f"{crt['n']} sequential no-ops, publish → result received (Redis result backend).",
            "",
            "| Figure | Emma (full path) | Raw Celery baseline | Difference | Goal | |",
            "|---|---|---|---|---|---|",
            f"| p50 | {_f(seq['db']['created_to_finished']['p50_ms'], ' ms')} | {_f(crt['p50_ms'], ' ms')} | "
            f"{_f(goals['latency_delta_ms'], ' ms')} | ≤ {LATENCY_GOAL_MS:.0f} ms | "
            f"{_met(goals['latency_met'])} |",
            f"| p95 | {_f(seq['db']['created_to_finished']['p95_ms'], ' ms')} | {_f(crt['p95_ms'], ' ms')} | "
            f"{_f(_diff(seq['db']['created_to_finished']['p95_ms'], crt['p95_ms']), ' ms')} | | |",
            "",
            "Where Emma's time goes (p50 / p95, same sequential tasks):",
            "",
            "| Segment | p50 | p95 |",
            "|---|---|---|",
            _row("HTTP POST /api/tasks (client side: auth, decision, audit, commit, publish)", seq["http_post"]),
            _row("created → audited (task event, audit chain lock and read, inside the submit transaction)",
                 seq["db"]["created_to_audited"]),
            _row("audited → started (audit insert, commit, Celery publish, broker, worker pick-up, claim)",
                 seq["db"]["audited_to_started"]),
            _row("started → finished (claim event, read-back, handler, result)", seq["db"]["started_to_finished"]),
            _row("created → finished (the figure compared above)", seq["db"]["created_to_finished"]),
            _row(f"POST sent → `succeeded` seen by the client (polling the database every "
                 f"{task_bench_poll_ms():.0f} ms)", seq["observed"]),
            "",
        ]
    priority = report.get("priority")
    if priority:
        within = priority["started_before_it"] <= 2 * s["worker_concurrency"]
        # What any task waits to start on an idle stack (publish, pick-up, claim), plus two executions.
        unloaded_start = ((report.get("emma") or {}).get("sequential") or {}).get("db", {}).get(
            "created_to_started", {}).get("p50_ms")
        allowed = (unloaded_start + 2 * priority["execution_p50_ms"]
                   if unloaded_start is not None and priority["execution_p50_ms"] else None)
        lines += [
            "## Priorities",
            "",
            f"{priority['backlog']} priority-9 `diagnostic.echo` tasks queued, then one of priority 1 "
            f"(the broker's priority steps; Celery prefork, {s['worker_concurrency']} processes, prefetch 1).",
            "",
            "| Figure | Value | Goal | |",
            "|---|---|---|---|",
            f"| Priority-9 tasks that started between the urgent task's submission and its start | "
            f"{priority['started_before_it']} | at most what the worker had already reserved "
            f"({2 * s['worker_concurrency']}) | {_met(within)} |",
            f"| Priority-9 tasks still queued behind it when it started | {priority['still_waiting_behind_it']} | | |",
            f"| Its wait, submitted → started | {_f(priority['urgent_wait_ms'], ' ms')} | ≤ an unloaded task's "
            f"wait to start ({_f(unloaded_start, ' ms')}, p50 above) plus two executions (2 × "
            f"{_f(priority['execution_p50_ms'], ' ms')}): {_f(allowed, ' ms')} | "
            f"{_met(priority['urgent_wait_ms'] <= allowed if allowed is not None else None)} |",
            "",
        ]
    outbox = report.get("outbox")
    if outbox and celery_r:
        q = outbox["queued_to_sent"]
        lines += [
            "## Outbound messages at saturation",
            "",
            f"{outbox['messages']} `message.send` tasks (100 per batch request) through the outbox to a loopback Slack "
            f"(`chat.postMessage`); one Celery task per message, whose worker makes the first attempt.",
            "",
            "| Figure | Emma | Raw Celery no-op | Seeds' claim | |",
            "|---|---|---|---|---|",
            f"| Messages delivered per second | {_f(outbox['per_second'])} | {_f(celery_r['throughput']['per_second'])} "
            f"tasks/s | 1,000/s | {_met(outbox['per_second'] is not None and outbox['per_second'] >= 1000)} |",
            f"| Queued → delivered p50 / p95 / p99 | {_f(q['p50_ms'], ' ms')} / {_f(q['p95_ms'], ' ms')} / "
            f"{_f(q['p99_ms'], ' ms')} | | p95 < 50 ms | {_met(q['p95_ms'] is not None and q['p95_ms'] < 50)} |",
            f"| Delivered exactly once (sent / arrived / distinct / duplicates) | {outbox['sent']} / {outbox['arrived']} / "
            f"{outbox['distinct']} / {outbox['duplicates']} | | | "
            f"{_met(outbox['sent'] == outbox['distinct'] == outbox['messages'] and not outbox['duplicates'])} |",
            "",
            "One Celery task per message cannot pass the raw no-op's own rate on this machine, so 1,000/s is out of reach "
            "this way; what would get close is fewer, larger units of work: a send task that takes every due message of "
            "a channel in one claim and sends them over one kept-alive connection (a per-channel pipeline), within the "
            "provider's own rate limit (Slack allows about one message a second per channel).",
            "",
        ]
    deadlines = report.get("deadlines")
    if deadlines:
        once = (deadlines["escalations_fired"] == deadlines["escalations"] == deadlines["task_expiries"]
                and deadlines["most_events_for_one"] == 1)
        late = deadlines["lateness"]
        lines += [
            "## Escalation deadlines",
            "",
            f"{deadlines['escalations']} escalated tasks with deadlines spread evenly over {deadlines['spread_seconds']:.0f} s, "
            "timed out by beat's sweep (every 5 s) on the worker; the policy's default (reject) expires each task.",
            "",
            "| Figure | Value | Goal | |",
            "|---|---|---|---|",
            f"| Fired exactly once (audit events / escalations / task expiries; most events for one) | "
            f"{deadlines['audit_events']} / {deadlines['escalations_fired']} / {deadlines['task_expiries']}; "
            f"{deadlines['most_events_for_one']} | each once | {_met(once)} |",
            f"| Lateness p50 / p95 / p99 / max (decided − deadline) | {_f(late['p50_ms'], ' ms')} / "
            f"{_f(late['p95_ms'], ' ms')} / {_f(late['p99_ms'], ' ms')} / {_f(late['max_ms'], ' ms')} | p99 ≤ 5 s | "
            f"{_met(late['p99_ms'] is not None and late['p99_ms'] <= 5000)} |",
            "",
        ]
    api, github = report.get("api_load"), report.get("github_load")
    if api:
        lines += [
            "## Concurrent API clients",
            "",
            f"{api['clients']} asyncio clients (httpx, a connection each) offering {api['offered_per_second']} "
            f"`POST /api/tasks` a second in all, each followed by `GET /api/tasks/{{id}}`, for {api['seconds']} s: "
            f"{api['submitted']} submitted ({_f(api['achieved_per_second'])}/s), {api['errors']} errors"
            + (f" ({', '.join(api['first_errors'])})" if api["errors"] else "") + ".",
            "",
            "| Request | p50 | p95 | p99 | Goal (p95) | |",
            "|---|---|---|---|---|---|",
            *[f"| {label} | {_f(api[key]['p50_ms'], ' ms')} | {_f(api[key]['p95_ms'], ' ms')} | "
              f"{_f(api[key]['p99_ms'], ' ms')} | ≤ 50 ms, 0 errors | "
              f"{_met(api[key]['p95_ms'] is not None and api[key]['p95_ms'] <= 50 and not api['errors'])} |"
              for label, key in (("POST /api/tasks", "post"), ("GET /api/tasks/{id}", "get"), ("both", "all"))],
            "",
            f"Peak RSS of one web / worker process: {_f(api['peak_rss_mb'].get('web'), ' MiB')} / "
            f"{_f(api['peak_rss_mb'].get('worker'), ' MiB')}.",
            "",
        ]
    if github:
        def ack(run: dict) -> str:
            return (f"{_f(run['ack']['p50_ms'], ' ms')} / {_f(run['ack']['p95_ms'], ' ms')} / "
                    f"{_f(run['ack']['p99_ms'], ' ms')}")

        def fine(run: dict) -> bool:  # every delivery accepted
            return set(run["statuses"]) <= {"200"}

        lines += [
            "## Signed GitHub deliveries",
            "",
            f"`push` deliveries signed with the webhook secret (`X-Hub-Signature-256`) from {github['senders']} "
            f"concurrent senders: first {github['deliveries']} as fast as Emma acknowledges them (each sender sends "
            "its next when the last was answered: Emma's saturation, where the latency is queueing), then at "
            "offered rates, paced on one clock.",
            "",
            "| Load | Accepted per second | Acknowledgement p50 / p95 / p99 | Answers | Web CPU per delivery | Goal | |",
            "|---|---|---|---|---|---|---|",
            f"| Saturation, {github['senders']} senders in a closed loop | {_f(github['accepted_per_second'])} | "
            f"{ack(github)} | {github['statuses']} | "
            f"{_f(github['cpu'].get('web', {}).get('ms_per_task'), ' ms', 2)} | ≥ 300/s | "
            f"{_met(github['accepted_per_second'] >= 300 and fine(github))} |",
        ]
        for run in github.get("paced", []):
            at_goal = run["offered_per_second"] >= 300
            met = (run["accepted_per_second"] >= 0.95 * run["offered_per_second"] and fine(run)
                   and run["ack"]["p95_ms"] is not None and run["ack"]["p95_ms"] <= 50)
            lines.append(
                f"| {run['offered_per_second']}/s offered for {run['seconds']} s | {_f(run['accepted_per_second'])} | "
                f"{ack(run)} | {run['statuses']} | {_f(run['cpu'].get('web', {}).get('ms_per_task'), ' ms', 2)} | "
                f"{'p95 ≤ 50 ms at 300/s' if at_goal else ''} | {_met(met) if at_goal else ''} |")
        lines += [
            "",
            f"Peak RSS of one web / worker process: {_f(github['peak_rss_mb'].get('web'), ' MiB')} / "
            f"{_f(github['peak_rss_mb'].get('worker'), ' MiB')}.",
            "",
        ]
    agent = report.get("agent")
    if agent:
        steps, resume = agent["steps"], agent["resume"]
        lines += [
            "## Agent runs",
            "",
            f"On the same stack, against a loopback model that answers at once (`tests/fakes/llm.py`), one run at a "
            f"time. Overhead: {agent['runs']} runs of {agent['tool_steps']} allowed `diagnostic.echo` tool calls and "
            f"an answer ({2 * agent['tool_steps'] + 1} steps); the run's first start to its end, per step "
            "(a model turn or a tool call, each decided, audited and committed), the loopback model's HTTP round "
            f"trip included. Resume: {agent['runs']} runs paused on an escalated `webhook.post`; from the "
            "approver's POST to the model's next request arriving (approve, queue, claim, the approved call sent "
            "and recorded, the next turn asked for). No goal is set; the task-path baseline is the sequential "
            "latency above.",
            "",
            "| Figure | p50 | p95 | max |",
            "|---|---|---|---|",
            f"| Overhead per step | {_f(steps['p50_ms'], ' ms')} | {_f(steps['p95_ms'], ' ms')} | "
            f"{_f(steps['max_ms'], ' ms')} |",
            f"| Resume: approval → next model call | {_f(resume['p50_ms'], ' ms')} | {_f(resume['p95_ms'], ' ms')} | "
            f"{_f(resume['max_ms'], ' ms')} |",
            "",
        ]
    from bench import webhooks as webhook_bench

    lines += webhook_bench.markdown(report, fmt=_f, met=_met)
    emb = report.get("embedding")
    if emb:
        lines += [
            "## Embedding",
            "",
            f"{emb['label']}. No goal is set; the tokenizer and one bare matmul of the model's FFN shape are",
            "measured in the same run as this machine's reference.",
            "",
            "| Figure | Value | Machine reference (same run) |",
            "|---|---|---|",
            f"| Model load | {_f(emb['load_ms'], ' ms')} | |",
            f"| One short text ({emb['single_tokens']} tokens), p50 / p95 | {_f(emb['single_p50_ms'], ' ms', 2)} / "
            f"{_f(emb['single_p95_ms'], ' ms', 2)} | "
            f"one FFN matmul at that shape: {_f(emb['ffn_matmul_single_ms'], ' ms', 3)} |",
            f"| Batch of 32 (mean {emb['batch32_mean_tokens']} tokens), per text, median / p95 | "
            f"{_f(emb['batch32_ms_per_text'], ' ms', 2)} / {_f(emb['batch32_p95_ms_per_text'], ' ms', 2)} | "
            f"one FFN matmul at that shape: {_f(emb['ffn_matmul_batch32_ms'], ' ms', 2)} per batch |",
            f"| Tokenizer alone, per text | {_f(emb['tokenizer_ms_per_text'], ' ms', 4)} | |",
            "",
        ]
    from bench import memory as memory_bench

    lines += memory_bench.markdown(report)
    lines += [
        "## Method",
        "",
        METHOD.format(**s),
        "",
    ]
    return "\n".join(lines)


METHOD = (
    "Everything runs on one machine in one `make bench`: an embedded PostgreSQL and Valkey in a fresh "
    "`.emma/bench` (or the services named by `DATABASE_URL`, `REDIS_URL`, `CELERY_BROKER_URL`), gunicorn, "
    "the Celery workers and the client all share its cores. The baseline is a Celery no-op (`bench.noop`) on a "
    "queue of its own, run by a {worker_concurrency}-process prefork worker with Emma's own Celery settings "
    "(late acks, prefetch 1, task events, Emma's signal handlers) and the same flags as Emma's worker (INFO logs, "
    "as in production), so it measures what the broker and Celery cost "
    "here; its throughput is {raw_tasks} publishes from one producer timed until a Redis counter, incremented by "
    "each no-op, reaches {raw_tasks}; its round trip is {raw_round_trips} sequential publishes each waited on "
    "through the Redis result backend. Emma's full path is gunicorn ({web_concurrency} workers) and a "
    "{worker_concurrency}-process worker on Emma's queues, with the rate limit raised out of the way; "
    "`diagnostic.echo` tasks (auto-approved, checked on every response) are submitted with a JWT over HTTP; "
    "throughput is {tasks} submissions from {threads} client threads timed from the first request until the "
    "database shows all of them `succeeded`; latency is {sequential} sequential tasks, each measured by the "
    "database's own timestamps (`created_at` → `finished_at`, both taken by the application), with the client's "
    "view beside it. Every process is warmed up first. CPU time per component comes from `/proc` (each "
    "process's own time plus that of its children that exited meanwhile); the row \"other processes\" is "
    "whatever else ran on the machine during the measurement, and when it is large the figures are low. "
    "Timings are reported, never enforced."
)


CPU_LABELS = {
    "web": "gunicorn (web)", "worker": "Celery worker", "postgres": "PostgreSQL", "valkey": "Valkey",
    "redis": "Redis", "rabbitmq": "RabbitMQ", "client": "benchmark client (HTTP threads, publisher, polling)",
    "other": "other processes (not this benchmark)", "machine": "whole machine",
}


def cpu_table(emma: dict, baseline: dict) -> list[str]:
    if not emma and not baseline:
        return []
    lines = [
        "CPU time during those throughput runs, per task, by component (read from `/proc`; \"cores\" is the",
        "average number of cores the component kept busy):",
        "",
        "| Component | Emma: CPU per task | Emma: cores | Baseline: CPU per task | Baseline: cores |",
        "|---|---|---|---|---|",
    ]
    groups = [g for g in CPU_LABELS if g in emma or g in baseline]
    for group in groups:
        if group == "machine":
            e, b = _own_total(emma), _own_total(baseline)
            lines.append(f"| **this benchmark, all of the above but other processes** | "
                         f"**{_f(e.get('ms_per_task'), ' ms', 2)}** | {_f(e.get('cores'), '', 2)} | "
                         f"**{_f(b.get('ms_per_task'), ' ms', 2)}** | {_f(b.get('cores'), '', 2)} |")
        e, b = emma.get(group, {}), baseline.get(group, {})
        lines.append(f"| {CPU_LABELS[group]} | {_f(e.get('ms_per_task'), ' ms', 2)} | {_f(e.get('cores'), '', 2)} | "
                     f"{_f(b.get('ms_per_task'), ' ms', 2)} | {_f(b.get('cores'), '', 2)} |")
    e, b = _own_total(emma).get("ms_per_task"), _own_total(baseline).get("ms_per_task")
    cores = os.cpu_count() or 1
    if e and b:
        lines += [
            "",
            f"CPU time per task depends much less than the rates above on what else the machine is doing, so it is "
            f"the steadier comparison: "
            f"on {cores} cores, alone, the CPU-bound ceiling (cores ÷ CPU per task) is about "
            f"{cores * 1000 / e:,.0f} tasks/s for Emma's full path and {cores * 1000 / b:,.0f} tasks/s for the "
            f"baseline ({b / e:.0%}).",
        ]
    return lines + [""]


def database_rows(database: dict) -> list[str]:
    if not database:
        return []
    return [
        f"| PostgreSQL connections opened per task | {_f(database['sessions'], '', 2)} | none | | | |",
        f"| PostgreSQL transactions per task (web and worker) | {_f(database['transactions'])} | none | | | |",
    ]


def _server_ms(usage: dict) -> float | None:
    """CPU ms per task of the processes that serve it (web, worker, database, broker): not the client."""
    served = [v["ms_per_task"] for k, v in usage.items() if k not in ("machine", "other", "client") and v["ms_per_task"]]
    return sum(served) if served else None


def _ratio(a, b):
    return None if a is None or not b else a / b


def _at_most(value, limit):
    return None if value is None else value <= limit


def _own_total(usage: dict) -> dict:
    """The benchmark's own processes together (client included), without the rest of the machine."""
    own = [v for k, v in usage.items() if k not in ("machine", "other")]
    if not own:
        return {}
    return {"ms_per_task": sum(v["ms_per_task"] or 0 for v in own), "cores": sum(v["cores"] for v in own)}


def task_bench_poll_ms() -> float:
    from bench.tasks import POLL_SECONDS

    return POLL_SECONDS * 1000


def _diff(a, b):
    return None if a is None or b is None else a - b


def _row(label: str, stats: dict) -> str:
    return f"| {label} | {_f(stats['p50_ms'], ' ms')} | {_f(stats['p95_ms'], ' ms')} |"


def evaluate(report: dict) -> None:
    goals = {"throughput_ratio": None, "throughput_met": None, "latency_delta_ms": None, "latency_met": None}
    celery_r, emma = report.get("celery"), report.get("emma")
    if celery_r and emma:
        raw, full = celery_r["throughput"]["per_second"], emma["throughput"]["per_second"]
        if raw:
            goals["throughput_ratio"] = full / raw
            goals["throughput_met"] = goals["throughput_ratio"] >= THROUGHPUT_GOAL_RATIO
        p50 = emma["sequential"]["db"]["created_to_finished"]["p50_ms"]
        goals["latency_delta_ms"] = _diff(p50, celery_r["round_trip"]["p50_ms"])
        goals["latency_met"] = None if p50 is None else p50 <= LATENCY_GOAL_MS
    report["goals"] = goals


def _interrupt(*_):
    """SIGTERM unwinds like Ctrl-C, so main()'s finally stops everything."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parts = list(sys.argv[1:] if argv is None else argv)
    if parts not in ([], ["webhooks"]):
        print("usage: python -m bench [webhooks]", file=sys.stderr)
        return 2
    bench = Bench()
    succeeded = False
    try:
        if parts == ["webhooks"]:
            report = bench.run_webhooks()
            from bench import webhooks as webhook_bench

            text = "\n".join(webhook_bench.markdown(report, fmt=_f, met=_met))
            json_out = os.environ.get("BENCH_JSON")
            if json_out:
                Path(json_out).write_text(json.dumps(report, indent=2, default=str))
            print("\n" + text, flush=True)
            succeeded = True
            return 0
        report = bench.run()
        evaluate(report)
        text = render(report)
        docs = Path(os.environ.get("BENCH_DOCS", BASE_DIR / "docs" / "BENCHMARKS.md"))
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(text)
        json_out = os.environ.get("BENCH_JSON")
        if json_out:
            Path(json_out).write_text(json.dumps(report, indent=2, default=str))
        print("\n" + text, flush=True)
        say(f"wrote {docs}")
        succeeded = True
        return 0
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception:
        traceback.print_exc()
        say(f"failed; logs are in {bench.log_dir}")
        return 1
    finally:
        bench.stop_all()
        if succeeded and not os.environ.get("BENCH_KEEP_DATA"):
            shutil.rmtree(bench.data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
