"""`make run`: the whole system in the foreground.

Starts the embedded PostgreSQL and Valkey when DATABASE_URL / REDIS_URL are unset, migrates, ensures
the admin user and the periodic tasks, then runs web (gunicorn), a Celery worker on every queue, beat
and Flower. Ctrl-C or SIGTERM stops the application processes, then the data services it started.
"""

import os
import secrets
import signal
import sys
import time
import urllib.request
from pathlib import Path

from devstack.stack import BASE_DIR, Stack, celery, gunicorn


def _say(message: str) -> None:
    print(f"emma | {message}", flush=True)


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


class Launcher:
    def __init__(self):
        self.stack = Stack(Path(os.environ.get("EMMA_DATA_DIR", BASE_DIR / ".emma")))
        self.stopping = False

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
            stack.manage(env, "migrate", "--noinput")
            admin_user, admin_password = stack.manage(env, "ensure_admin").split()[-2:]
            stack.manage(env, "setup_periodic_tasks")
            stack.manage(env, "collectstatic", "--noinput")
            flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or _secret_file(
                stack.data_dir / "flower-auth", lambda: f"flower:{secrets.token_urlsafe(12)}")
            web_bind = env.setdefault("EMMA_WEB_BIND", "127.0.0.1:8000")
            flower_port = env.get("EMMA_FLOWER_PORT", "5555")
            stack.spawn("web", gunicorn(), env)
            # No -Q: a worker consumes every queue in settings.
            stack.spawn("worker", celery("worker", "-E", "-l", "INFO", "-n", "worker@%h",
                                         "-c", env.get("CELERY_WORKER_CONCURRENCY", "2")), env)
            stack.spawn("beat", celery("beat", "-l", "INFO"), env)
            # Flower serves its own /metrics; it stays out of Emma's multiprocess metrics.
            flower_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            stack.spawn("flower", celery("flower", "--address=127.0.0.1", f"--port={flower_port}",
                                         f"--basic-auth={flower_auth}", "--persistent=False"), flower_env)
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
                    _say(f"{exited[0]} exited with code {exited[1]}; stopping the rest")
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


if __name__ == "__main__":
    sys.exit(Launcher().run())
