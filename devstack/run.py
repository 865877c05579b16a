"""`make run`: the whole system in the foreground, from the same Procfile production uses.

Starts the embedded PostgreSQL and Valkey when DATABASE_URL / REDIS_URL are unset and exports their URLs,
runs the Procfile's `release` line, ensures the admin user, then runs web, worker, beat and Flower under
honcho. Ctrl-C or SIGTERM stops honcho (which stops the application processes), then the data services
it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from honcho.environ import parse_procfile

from devstack.stack import BASE_DIR, Stack

PROCFILE = BASE_DIR / "Procfile"
PROCESSES = ("web", "worker", "beat", "flower")


def _say(message: str) -> None:
    print(f"emma | {message}", flush=True)


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def honcho(*processes: str) -> list[str]:
    """`honcho start` for these Procfile processes. `-e /dev/null`: honcho would otherwise load `.env` into
    every process, and Emma reads `.env` only when DJANGO_READ_DOT_ENV_FILE=1 (settings do that)."""
    colour = [] if sys.stdout.isatty() else ["--no-colour"]
    return [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE), "-e", os.devnull, *colour, *processes]


class Launcher:
    def __init__(self):
        self.stack = Stack(Path(os.environ.get("EMMA_DATA_DIR", BASE_DIR / ".emma")))
        self.stopping = False

    def release(self, env: dict) -> None:
        """The Procfile's `release` line (migrations, periodic tasks), as a deploy runs it."""
        command = parse_procfile(PROCFILE.read_text()).processes["release"]
        result = subprocess.run(command, shell=True, cwd=BASE_DIR, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"release (`{command}`) failed:\n{result.stdout}{result.stderr}")

    def wait_for_web(self, url: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stack.exited():
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return True
            except OSError:
                time.sleep(0.3)
        return False

    def stop(self, *_):
        if self.stopping:
            return
        self.stopping = True
        _say("stopping")
        self.stack.stop()
        _say("stopped")

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        stack = self.stack
        try:
            env = stack.environment(on_start=lambda names: _say(
                f"starting embedded {' and '.join(names)} in {stack.data_dir}"))
            _say("applying migrations")
            self.release(env)
            admin_user, admin_password = stack.manage(env, "ensure_admin").split()[-2:]
            stack.manage(env, "collectstatic", "--noinput")
            flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or _secret_file(
                stack.data_dir / "flower-auth", lambda: f"flower:{secrets.token_urlsafe(12)}")
            # The Procfile's production defaults listen on every interface; `make run` stays on loopback.
            web_bind = env.setdefault("EMMA_WEB_BIND", "127.0.0.1:8000")
            flower_port = env.get("EMMA_FLOWER_PORT", "5555")
            env.update(FLOWER_ADDRESS="127.0.0.1", FLOWER_PORT=flower_port, FLOWER_BASIC_AUTH=flower_auth,
                       CELERY_WORKER_NAME="worker@%h",
                       CELERY_WORKER_CONCURRENCY=env.get("CELERY_WORKER_CONCURRENCY", "2"))
            stack.spawn("honcho", honcho(*PROCESSES), env)
            web = f"http://{web_bind}"
            if not self.wait_for_web(f"{web}/health/live"):
                _say("the web process did not come up")
                self.stop()
                return 1
            print(f"""
  Emma is running.
    Web / API     {web}/            (API docs {web}/api/docs/)
    Admin         {web}/admin/      user {admin_user}  password {admin_password}
    Health        {web}/health      metrics {web}/metrics
    Flower        http://127.0.0.1:{flower_port}/   user:password {flower_auth}
    Data          {stack.data_dir}
  Press Ctrl-C to stop everything.
""", flush=True)
            while not self.stopping:
                exited = stack.exited()
                if exited and not self.stopping:
                    _say(f"a process exited (honcho: {exited[1]}); stopping the rest")
                    self.stop()
                    return 1
                time.sleep(0.5)
            return 0
        except RuntimeError as exc:
            sys.stderr.write(f"{exc}\n")
            self.stop()
            return 1
        except BaseException:
            self.stop()
            raise
