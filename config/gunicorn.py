"""gunicorn settings for `make run`, the Procfile and the container image."""

import os

bind = os.environ.get("EMMA_WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 60
graceful_timeout = 20
accesslog = None  # requests are logged by Django as JSON, with their correlation id
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    # https://prometheus.github.io/client_python/multiprocess/
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
