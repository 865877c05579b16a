"""A stack of processes on one machine: the embedded services they need (when DATABASE_URL / REDIS_URL
are unset), whose URLs it exports to them, and child processes, each in a session of its own, stopped
together in order: children first, then Valkey, then PostgreSQL. `make run`, `make test` and `make bench`
run on it. Imports nothing from Django."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from devstack import embedded

BASE_DIR = Path(__file__).resolve().parents[1]


class Stack:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self.services: embedded.EmbeddedServices | None = None
        self.processes: dict[str, subprocess.Popen] = {}

    def export_services(self, env: dict, on_start=None) -> dict:
        """Set DATABASE_URL / REDIS_URL in `env` where unset, starting the embedded services for them
        (this stack stops those it started). `on_start` hears the names of the services about to start."""
        need_db, need_redis = not env.get("DATABASE_URL"), not env.get("REDIS_URL")
        if need_db or need_redis:
            if on_start:
                on_start([name for name, on in (("PostgreSQL", need_db), ("Valkey", need_redis)) if on])
            self.services = embedded.ensure(self.data_dir, database=need_db, redis=need_redis)
            if need_db:
                env["DATABASE_URL"] = self.services.database_url
            if need_redis:
                env["REDIS_URL"] = self.services.redis_url
        return env

    def environment(self, base: dict | None = None, on_start=None) -> dict:
        """The environment of an Emma stack's processes (`make run`, `make bench`): local settings, the data
        services' URLs, this interpreter's bin directory first on PATH (the Procfile says `python`,
        `gunicorn`, `celery`), and a fresh metrics directory shared by every gunicorn and Celery process."""
        env = dict(os.environ if base is None else base)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        env["EMMA_DATA_DIR"] = str(self.data_dir)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.export_services(env, on_start)
        metrics_dir = self.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return env

    def manage(self, env: dict, *args: str) -> str:
        """Run a management command to completion; its output, or RuntimeError with it."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise RuntimeError(f"`manage.py {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def spawn(self, name: str, args: list[str], env: dict, log_path: Path | None = None) -> subprocess.Popen:
        """Start a child in a session of its own: a terminal's Ctrl-C reaches only the launcher, which
        decides the order of shutdown. Output goes to log_path, or to this process's output."""
        log = open(log_path, "ab") if log_path else None
        try:
            self.processes[name] = subprocess.Popen(args, cwd=BASE_DIR, env=env, start_new_session=True,
                                                    stdout=log, stderr=subprocess.STDOUT if log else None)
        finally:
            if log:
                log.close()
        return self.processes[name]

    def exited(self) -> tuple[str, int] | None:
        """The first child that has exited, with its code."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop_process(self, name: str, timeout: float = 30) -> None:
        """SIGTERM to the child's process group, SIGKILL to whatever is left after `timeout`."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"emma | {name} did not stop in {timeout:.0f} s; killing it", flush=True)
        _signal_group(process.pid, signal.SIGKILL)  # stragglers: pool processes, gunicorn workers
        if process.poll() is None:
            process.wait()

    def stop_services(self) -> None:
        """The embedded services this stack started, Valkey then PostgreSQL."""
        if self.services is not None and self.services.started:
            print(f"emma | stopping embedded {', '.join(self.services.to_stop())}", flush=True)
            self.services.stop()

    def stop(self) -> None:
        """Every child, then the embedded services this stack started."""
        for name in list(self.processes):
            self.stop_process(name)
        self.stop_services()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", *args]


def gunicorn() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
