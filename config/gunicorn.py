"""gunicorn settings for `make run`, the Procfile and the container image."""

import os
import sys

bind = os.environ.get("EMMA_WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, not one request per process: a task's event stream (GET /api/tasks/{id}/events) is held open for
# minutes, and under the sync worker each one would take a whole worker. A stream's thread sleeps between
# polls and holds no database connection; threads are started as they are needed.
# https://docs.gunicorn.org/en/stable/design.html#choosing-a-worker-type
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "64"))
timeout = 60
graceful_timeout = 20
accesslog = None  # requests are logged by Django as JSON, with their correlation id
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    # A request thread that comes back from the database must wait for the GIL while another thread of its
    # process computes, and Python hands the GIL over every 5 ms: a request of several round trips behind a
    # busy neighbour waits that long each time. Every 1 ms cut the p99 of 50 paced API clients from 81 ms to
    # 31 (bench/load.py), for slightly more switching.
    sys.setswitchinterval(0.001)


def child_exit(server, worker):
    # https://prometheus.github.io/client_python/multiprocess/
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
