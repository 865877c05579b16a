"""Dependency checks behind /health and /health/ready: each bounded in time, none can hang a probe."""

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from celery import current_app as celery_app
from django.conf import settings
from django.db import connection
from kombu import Connection

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
# Checks of the apps above core (integrations), registered in their AppConfig.ready: name -> check().
_app_checks: dict = {}


def register_check(name: str, check) -> None:
    """Add a check to /health: check() returns {"status": "ok"|"fail", ...} and never raises."""
    _app_checks[name] = check


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        result = {"status": "ok", **(detail or {})}
    except Exception as exc:  # a check reports any failure; it never raises
        result = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the pgvector extension is not installed in this database")
    return {"pgvector": row[0]}


def check_redis() -> dict:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def check_broker() -> dict:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout,
                    transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout}) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        conn.default_channel  # opens a channel: proves the broker speaks to us
        return {"transport": conn.transport.driver_name}


def check_workers() -> dict:
    replies = celery_app.control.ping(timeout=min(1.0, settings.HEALTH_CHECK_TIMEOUT_SECONDS))
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    return {"workers": sorted(name for reply in replies for name in reply)}


def _bounded(future, timeout: float) -> dict:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return {"status": "fail", "error": f"no answer within {timeout} s", "latency_ms": timeout * 1000}


def run_checks() -> dict:
    """All checks, the slow ones in parallel. The database gates the status: without it Emma is
    unhealthy (503); any other failure leaves it degraded (it still accepts and stores work)."""
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS + 1
    redis_future = _pool.submit(_timed, check_redis)
    broker_future = _pool.submit(_timed, check_broker)
    checks = {"database": _timed(check_database)}
    checks["redis"] = _bounded(redis_future, timeout)
    checks["broker"] = _bounded(broker_future, timeout)
    app_futures = {name: _pool.submit(check) for name, check in _app_checks.items()}
    if checks["broker"]["status"] == "ok":
        checks["workers"] = _bounded(_pool.submit(_timed, check_workers), timeout)
    else:
        checks["workers"] = {"status": "fail", "error": "skipped: the broker is unreachable", "latency_ms": 0}
    for name, future in app_futures.items():
        checks[name] = _bounded(future, timeout)
    if checks["database"]["status"] != "ok":
        status = "unhealthy"
    elif any(check["status"] != "ok" for check in checks.values()):
        status = "degraded"
    else:
        status = "healthy"
    return {"status": status, "checks": checks}


def readiness() -> dict:
    database = _timed(check_database)
    return {"status": "ready" if database["status"] == "ok" else "not_ready", "checks": {"database": database}}
