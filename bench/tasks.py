"""Task benchmarks: raw Celery (a no-op on a queue of its own) against Emma's full path (HTTP submit,
governance decision, audit, publish, worker claim, run, finish), on the same broker in the same run.

This module is also imported by the baseline worker (`celery worker -I bench.tasks`), so its top
level stays light: the measurement code imports what it needs when it runs.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from celery import shared_task
from kombu import Exchange, Queue

# A queue of its own, declared the way settings declare Emma's (a direct exchange per queue), so the
# no-op never mixes with Emma's messages on Redis or on RabbitMQ.
BENCH_QUEUE = Queue("bench", Exchange("bench", type="direct"), routing_key="bench")

_redis = None


def _redis_client():
    global _redis
    if _redis is None:  # per worker process, after the fork
        import redis

        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _redis


@shared_task(name="bench.noop", queue="bench")
def noop(counter: str | None = None) -> None:
    """Does nothing but, when asked, count itself done in Redis (one INCR: how the benchmark knows)."""
    if counter:
        _redis_client().incr(counter)


# --- helpers ------------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not samples:
        return None
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _stats_ms(samples_ms: list[float]) -> dict:
    return {"p50_ms": _ms(percentile(samples_ms, 50)), "p95_ms": _ms(percentile(samples_ms, 95)),
            "max_ms": _ms(max(samples_ms) if samples_ms else None), "n": len(samples_ms)}


def _wait(predicate, timeout: float, interval: float, alive=None):
    """Poll until predicate() is truthy; return (value, seconds waited) or (None, timeout)."""
    start = time.perf_counter()
    while True:
        value = predicate()
        if value:
            return value, time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            return None, timeout
        if alive is not None:
            alive()
        time.sleep(interval)


# --- CPU accounting ---------------------------------------------------------------------------


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int):
    """(comm, ppid, process group, CPU ticks so far) of a process, or None once it is gone. The ticks
    include its reaped children's (cutime, cstime): a PostgreSQL backend or a pool process that exits
    between two snapshots is then still counted, in its parent, which belongs to the same component."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    close = data.rindex(b")")
    fields = data[close + 2:].split()
    return (data[data.index(b"(") + 1:close].decode(errors="replace"), int(fields[1]), int(fields[2]),
            sum(int(v) for v in fields[11:15]))


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


class CpuMeter:
    """CPU time by component (web, worker, postgres, ...) between two snapshots, read from /proc.
    `classify(pid, comm, ppid, pgrp)` names a process's component, or None to leave it out."""

    def __init__(self, classify):
        self.classify = classify

    def snapshot(self) -> dict:
        totals = {"machine": _machine_busy_ticks()}
        components = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _proc_stat(int(entry))
                group = stat and self.classify(int(entry), *stat[:3])
                if group:
                    totals[group] = totals.get(group, 0) + stat[3]
                    components += stat[3]
        # Everything else the machine did meanwhile: other people's work on a shared box shows here.
        totals["other"] = totals["machine"] - components
        totals["_at"] = time.perf_counter()
        return totals

    def peak_rss_mb(self) -> dict:
        """Per component, the largest peak resident set (VmHWM) of any one of its processes so far, in MiB."""
        peaks = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            stat = _proc_stat(int(entry))
            group = stat and self.classify(int(entry), *stat[:3])
            if group in ("web", "worker"):
                try:
                    with open(f"/proc/{entry}/status") as handle:
                        kib = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
                except (OSError, StopIteration):
                    continue
                peaks[group] = max(peaks.get(group, 0), round(kib / 1024, 1))
        return peaks

    @staticmethod
    def usage(before: dict, after: dict, tasks: int) -> dict:
        """Per component: CPU milliseconds per task, and cores busy on average over the interval."""
        seconds = after["_at"] - before["_at"]
        usage = {}
        for group in sorted(set(after) - {"_at"}):
            ticks = after[group] - before.get(group, 0)
            if group == "other":
                ticks = max(0, ticks)  # /proc/stat and the per-process counters tick apart
            cpu_seconds = ticks / _CLK_TCK
            usage[group] = {"ms_per_task": round(cpu_seconds * 1000 / tasks, 2) if tasks else None,
                            "cores": round(cpu_seconds / seconds, 2)}
        return usage


# --- raw Celery ---------------------------------------------------------------------------------


def run_celery_baseline(report: dict, *, tasks: int, round_trips: int, alive=None, cpu=None) -> None:
    """report["celery"]: no-op round trip (sequential publish -> result) and throughput (publish
    `tasks` no-ops, time until the last one has run)."""
    redis = _redis_client()
    counter = f"emma:bench:noop:{uuid.uuid4().hex}"
    options = {"queue": BENCH_QUEUE}

    # Warm up: the worker is ready when a result comes back; both processes get to run once or more.
    deadline = time.monotonic() + 90
    while True:
        try:
            noop.apply_async(ignore_result=False, **options).get(timeout=5)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError("the baseline worker did not answer within 90 s")
            if alive is not None:
                alive()
    for _ in range(40):
        noop.apply_async(ignore_result=False, **options).get(timeout=30)

    # Round trip: one at a time, publish -> worker -> result backend -> here.
    samples = []
    for _ in range(round_trips):
        start = time.perf_counter()
        noop.apply_async(ignore_result=False, **options).get(timeout=30)
        samples.append((time.perf_counter() - start) * 1000.0)

    # Throughput: publish everything from one producer; the clock stops when the last one has run.
    redis.delete(counter)
    cpu_before = cpu.snapshot() if cpu else None
    start = time.perf_counter()
    for _ in range(tasks):
        noop.apply_async(args=[counter], **options)
    published = time.perf_counter() - start
    done, _ = _wait(lambda: int(redis.get(counter) or 0) >= tasks, timeout=240, interval=0.005, alive=alive)
    elapsed = time.perf_counter() - start
    cpu_usage = CpuMeter.usage(cpu_before, cpu.snapshot(), tasks) if cpu else {}
    completed = int(redis.get(counter) or 0)
    redis.delete(counter)

    report["celery"] = {
        "round_trip": _stats_ms(samples),
        "throughput": {
            "tasks": tasks,
            "completed": completed,
            "seconds": round(elapsed, 3),
            "per_second": round(completed / elapsed, 1),
            "publish_seconds": round(published, 3),
            "publish_per_second": round(tasks / published, 1),
            "timed_out": not done,
            "cpu": cpu_usage,
        },
    }


# --- Emma's full path ---------------------------------------------------------------------------


class EmmaClient:
    """What the benchmark needs of Emma: the HTTP API and a read-only look at the task table."""

    def __init__(self, base_url: str, database_url: str, token: str):
        import psycopg

        self.base_url = base_url
        self.token = token
        self.db = psycopg.connect(database_url, autocommit=True)
        self.queries = 0  # this client's own, to take out of the server's transaction count

    def _query(self, sql: str, params=None):
        self.queries += 1
        return self.db.execute(sql, params)

    def http(self):
        import httpx

        return httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {self.token}"})

    def submit(self, client, tag: str, index: int) -> dict:
        response = client.post("/api/tasks", json={"task_type": "diagnostic.echo", "description": tag,
                                                  "parameters": {"i": index}})
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/tasks answered {response.status_code}: {response.text[:500]}")
        body = response.json()
        if body["decision"] != "allow" or body["status"] != "queued":
            raise RuntimeError(f"diagnostic.echo was not auto-approved: {body}")
        return body

    def submit_batch(self, client, tag: str, start: int, size: int, priority: int = 5) -> list[dict]:
        response = client.post("/api/tasks/batch", json={"tasks": [
            {"task_type": "diagnostic.echo", "description": tag, "parameters": {"i": start + n}, "priority": priority}
            for n in range(size)]})
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/tasks/batch answered {response.status_code}: {response.text[:500]}")
        return response.json()["tasks"]

    def status(self, task_id: str) -> str:
        return self._query("SELECT status FROM emma_agenttask WHERE id = %s", [task_id]).fetchone()[0]

    def counts(self, tag: str) -> dict:
        rows = self._query("SELECT status, count(*) FROM emma_agenttask WHERE description = %s GROUP BY status",
                           [tag]).fetchall()
        return dict(rows)

    def server_counters(self) -> dict | None:
        """PostgreSQL's own counts for the database: sessions opened and transactions ended."""
        try:
            row = self._query("SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database "
                              "WHERE datname = current_database()").fetchone()
        except Exception:  # noqa: BLE001 — PostgreSQL before 14 has no sessions column
            return None
        return {"sessions": row[0], "transactions": row[1], "own_queries": self.queries}

    @staticmethod
    def per_task(before: dict | None, after: dict | None, tasks: int) -> dict:
        if not before or not after or not tasks:
            return {}
        own = after["own_queries"] - before["own_queries"]
        return {"sessions": round((after["sessions"] - before["sessions"]) / tasks, 2),
                "transactions": round((after["transactions"] - before["transactions"] - own) / tasks, 1)}

    def timings_ms(self, tag: str) -> list[tuple[float, float, float, float, float]]:
        """Per succeeded task, in ms: created -> finished, created -> started, started -> finished, and
        created -> audited, audited -> started (the audit event's timestamp is taken inside the submit
        transaction just before its last insert and the commit)."""
        rows = self.db.execute(
            """SELECT extract(epoch FROM t.finished_at - t.created_at) * 1000,
                      extract(epoch FROM t.started_at - t.created_at) * 1000,
                      extract(epoch FROM t.finished_at - t.started_at) * 1000,
                      extract(epoch FROM a.created_at - t.created_at) * 1000,
                      extract(epoch FROM t.started_at - a.created_at) * 1000
               FROM emma_agenttask t
               JOIN governance_auditevent a ON a.object_type = 'task' AND a.action = 'task.submitted'
                                           AND a.object_id = t.id::text AND a.tenant_id = t.tenant_id
               WHERE t.description = %s AND t.status = 'succeeded'""", [tag]).fetchall()
        return [tuple(float(v) for v in row) for row in rows]

    def run_seconds(self, task_id: str) -> float:
        """An agent run's wall time, from its (first) start to its end, in the database's clock."""
        row = self.db.execute("SELECT extract(epoch FROM t.finished_at - min(e.created_at)) FROM emma_agenttask t "
                              "JOIN emma_taskevent e ON e.task_id = t.id AND e.to_status = 'running' "
                              "WHERE t.id = %s GROUP BY t.finished_at", [task_id]).fetchone()
        return float(row[0])

    def span_seconds(self, tag: str) -> float:
        row = self.db.execute("SELECT extract(epoch FROM max(finished_at) - min(created_at)) FROM emma_agenttask "
                              "WHERE description = %s AND status = 'succeeded'", [tag]).fetchone()
        return float(row[0] or 0)

    def close(self):
        self.db.close()


FINAL = ("succeeded", "failed", "rejected", "expired", "cancelled")
# How often the sequential run looks at its task: often enough to see it finish, rarely enough not to
# load the machine it measures (the reported latency comes from the database's timestamps anyway).
POLL_SECONDS = 0.005


def _final_or_none(status: str) -> str | None:
    return status if status in FINAL else None


def _latency_block(rows: list[tuple[float, float, float]]) -> dict:
    return {
        "created_to_finished": _stats_ms([r[0] for r in rows]),
        "created_to_started": _stats_ms([r[1] for r in rows]),
        "started_to_finished": _stats_ms([r[2] for r in rows]),
        "created_to_audited": _stats_ms([r[3] for r in rows]),
        "audited_to_started": _stats_ms([r[4] for r in rows]),
    }


def _all_final(emma: EmmaClient, tag: str, accepted: int, alive) -> dict | None:
    """The tag's tasks by status once all `accepted` are final (None after four minutes)."""

    def all_final():
        counts = emma.counts(tag)
        return counts if sum(counts.get(s, 0) for s in FINAL) >= accepted else None

    return _wait(all_final, timeout=240, interval=0.02, alive=alive)[0]


def _drain(threads: int, items, send, emma: EmmaClient) -> tuple[list[float], list[str], int, float]:
    """`threads` client threads, each with its own connection, take items until none is left and call
    `send(client, item)`, which returns how many tasks it got accepted. The ms each call took, the errors
    (counted and reported, never hidden), the tasks accepted, and when the last call answered."""
    remaining = iter(items)
    lock = threading.Lock()
    samples: list[float] = []
    errors: list[str] = []
    totals = {"accepted": 0, "last": 0.0}

    def client_thread():
        with emma.http() as client:
            while True:
                with lock:
                    item = next(remaining, None)
                if item is None:
                    return
                start = time.perf_counter()
                try:
                    accepted = send(client, item)
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(str(exc)[:300])
                    continue
                end = time.perf_counter()
                with lock:
                    samples.append((end - start) * 1000.0)
                    totals["accepted"] += accepted
                    totals["last"] = max(totals["last"], end)

    pool = [threading.Thread(target=client_thread, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return samples, errors, totals["accepted"], totals["last"]


def run_emma(report: dict, emma: EmmaClient, *, tasks: int, threads: int, sequential: int, alive=None,
             cpu=None) -> None:
    """report["emma"]: sequential unloaded submit -> succeeded, then `tasks` submissions from
    `threads` client threads, timed until every one of them has succeeded."""
    run = uuid.uuid4().hex[:8]

    with emma.http() as client:
        # Warm up every web and worker process (imports, connections, first queries).
        warm = f"bench-{run}-warmup"
        for i in range(20):
            emma.submit(client, warm, i)
        done, _ = _wait(lambda: emma.counts(warm).get("succeeded", 0) >= 20, timeout=90, interval=0.05, alive=alive)
        if not done:
            raise RuntimeError(f"warm-up tasks did not all succeed: {emma.counts(warm)}")

        # Sequential, unloaded: one task at a time, watched in the database until it succeeded.
        tag = f"bench-{run}-sequential"
        post_ms, observed_ms = [], []
        for i in range(sequential):
            start = time.perf_counter()
            task_id = emma.submit(client, tag, i)["task_id"]
            post_ms.append((time.perf_counter() - start) * 1000.0)
            status, _ = _wait(lambda: _final_or_none(emma.status(task_id)), timeout=30, interval=POLL_SECONDS)
            observed_ms.append((time.perf_counter() - start) * 1000.0)
            if status != "succeeded":
                raise RuntimeError(f"sequential task {task_id} ended {status!r}")
        seq_rows = emma.timings_ms(tag)

    # Sustained: a small pool of client threads, each with its own connection.
    tag = f"bench-{run}-throughput"

    def submit_one(client, index) -> int:
        emma.submit(client, tag, index)
        return 1

    counters_before = emma.server_counters()
    cpu_before = cpu.snapshot() if cpu else None
    start = time.perf_counter()
    post_samples, errors, accepted, last_response = _drain(threads, range(tasks), submit_one, emma)

    finished = _all_final(emma, tag, accepted, alive)
    elapsed = time.perf_counter() - start
    cpu_usage = CpuMeter.usage(cpu_before, cpu.snapshot(), accepted) if cpu else {}
    peak_rss = cpu.peak_rss_mb() if cpu else {}
    time.sleep(2)  # PostgreSQL publishes a busy backend's statistics about once a second
    database = EmmaClient.per_task(counters_before, emma.server_counters(), accepted)
    counts = finished or emma.counts(tag)
    succeeded = counts.get("succeeded", 0)
    load_rows = emma.timings_ms(tag)

    report["emma"] = {
        "sequential": {
            "tasks": sequential,
            "db": _latency_block(seq_rows),
            "http_post": _stats_ms(post_ms),
            "observed": _stats_ms(observed_ms),
        },
        "throughput": {
            "tasks": tasks,
            "threads": threads,
            "accepted": accepted,
            "errors": len(errors),
            "first_errors": errors[:3],
            "statuses": counts,
            "succeeded": succeeded,
            "seconds": round(elapsed, 3),
            "per_second": round(succeeded / elapsed, 1),
            "submit_seconds": round(last_response - start, 3) if accepted else None,
            "submit_per_second": round(accepted / (last_response - start), 1) if accepted else None,
            "db_span_seconds": round(emma.span_seconds(tag), 3),
            "http_post": _stats_ms(post_samples),
            "db": _latency_block(load_rows),
            "timed_out": finished is None,
            "cpu": cpu_usage,
            "peak_rss_mb": peak_rss,
            "database": database,
        },
    }


def run_emma_batch(report: dict, emma: EmmaClient, *, tasks: int, batch: int, threads: int, alive=None,
                   cpu=None) -> None:
    """report["emma_batch"]: `tasks` submitted `batch` at a time (POST /api/tasks/batch) from `threads`
    client threads, timed until every one of them has succeeded."""
    tag = f"bench-{uuid.uuid4().hex[:8]}-batch"
    cpu_before = cpu.snapshot() if cpu else None
    start = time.perf_counter()
    post_samples, errors, accepted, _ = _drain(
        threads, range(0, tasks, batch),
        lambda client, first: len(emma.submit_batch(client, tag, first, min(batch, tasks - first))), emma)

    finished = _all_final(emma, tag, accepted, alive)
    elapsed = time.perf_counter() - start
    cpu_usage = CpuMeter.usage(cpu_before, cpu.snapshot(), accepted) if cpu else {}
    counts = finished or emma.counts(tag)
    report["emma_batch"] = {
        "tasks": tasks, "batch": batch, "threads": threads, "accepted": accepted, "errors": len(errors),
        "first_errors": errors[:3], "statuses": counts, "succeeded": counts.get("succeeded", 0),
        "seconds": round(elapsed, 3), "per_second": round(counts.get("succeeded", 0) / elapsed, 1),
        "http_post": _stats_ms(post_samples), "timed_out": finished is None, "cpu": cpu_usage,
        "peak_rss_mb": cpu.peak_rss_mb() if cpu else {},
    }


def run_priority(report: dict, emma: EmmaClient, *, backlog: int, alive=None) -> None:
    """report["priority"]: `backlog` priority-9 tasks queued (in batches of 100), then one priority-1 task:
    how long it waited to start, and how many of the backlog started between its submission and its start."""
    tag = f"bench-{uuid.uuid4().hex[:8]}-priority"
    with emma.http() as client:
        for first in range(0, backlog, 100):
            emma.submit_batch(client, f"{tag}-backlog", first, min(100, backlog - first), priority=9)
        urgent = emma.submit_batch(client, f"{tag}-urgent", 0, 1, priority=1)[0]["task_id"]
    _wait(lambda: emma.status(urgent) in FINAL, timeout=240, interval=0.01, alive=alive)
    row = emma.db.execute(
        """SELECT extract(epoch FROM u.started_at - u.created_at) * 1000,
                  (SELECT count(*) FROM emma_agenttask b WHERE b.description = %s
                      AND b.started_at > u.created_at AND b.started_at < u.started_at),
                  (SELECT count(*) FROM emma_agenttask b WHERE b.description = %s AND b.started_at IS NULL
                      OR b.description = %s AND b.started_at > u.started_at),
                  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
                      * 1000 FROM emma_agenttask WHERE description = %s AND finished_at IS NOT NULL)
           FROM emma_agenttask u WHERE u.id = %s""",
        [f"{tag}-backlog", f"{tag}-backlog", f"{tag}-backlog", f"{tag}-backlog", urgent]).fetchone()
    _wait(lambda: sum(emma.counts(f"{tag}-backlog").get(s, 0) for s in FINAL) >= backlog, timeout=240,
          interval=0.1, alive=alive)
    report["priority"] = {"backlog": backlog, "urgent_wait_ms": round(float(row[0]), 1),
                          "started_before_it": int(row[1]), "still_waiting_behind_it": int(row[2]),
                          "execution_p50_ms": round(float(row[3] or 0), 2)}
