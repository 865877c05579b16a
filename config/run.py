"""`make run`: the whole system in the foreground.

Starts the embedded PostgreSQL and Valkey when DATABASE_URL / REDIS_URL are unset, migrates, ensures
the admin user and the periodic tasks, then runs web (gunicorn), a Celery worker on every queue, beat
and Flower. Ctrl-C or SIGTERM stops the application processes, then the data services it started.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config import embedded

BASE_DIR = Path(__file__).resolve().parents[1]
QUEUES = "agent,escalations,integrations,maintenance,default"


def _say(message: str) -> None:
    print(f"emma | {message}", flush=True)


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


class Launcher:
    def __init__(self):
        self.data_dir = Path(os.environ.get("EMMA_DATA_DIR", BASE_DIR / ".emma")).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.services: embedded.EmbeddedServices | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def environment(self) -> dict:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        env["EMMA_DATA_DIR"] = str(self.data_dir)
        need_db, need_redis = not env.get("DATABASE_URL"), not env.get("REDIS_URL")
        if need_db or need_redis:
            _say(f"starting embedded {' and '.join(n for n, on in (('PostgreSQL', need_db), ('Valkey', need_redis)) if on)}"
                 f" in {self.data_dir}")
            self.services = embedded.ensure(self.data_dir, database=need_db, redis=need_redis)
            if need_db:
                env["DATABASE_URL"] = self.services.database_url
            if need_redis:
                env["REDIS_URL"] = self.services.redis_url
        # Metrics from every gunicorn and Celery process, summed at scrape time.
        metrics_dir = self.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return env

    def manage(self, env: dict, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"emma | `manage.py {' '.join(args)}` failed")
        return result.stdout

    def spawn(self, name: str, args: list[str], env: dict) -> None:
        # Each in a session of its own: the launcher alone decides the order of shutdown.
        self.processes[name] = subprocess.Popen(args, cwd=BASE_DIR, env=env, start_new_session=True)

    def wait_for_web(self, url: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return True
            except OSError:
                if any(p.poll() is not None for p in self.processes.values()):
                    return False
                time.sleep(0.3)
        return False

    def stop(self, *_):
        if self.stopping:
            return
        self.stopping = True
        _say("stopping")
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say(f"{name} did not stop in time; killing it")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for process in self.processes.values():  # stragglers left in a process group
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.services is not None and self.services.started:
            _say(f"stopping embedded {', '.join(self.services.started)}")
            self.services.stop()
        _say("stopped")

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        try:
            env = self.environment()
            _say("applying migrations")
            self.manage(env, "migrate", "--noinput")
            admin_user, admin_password = self.manage(env, "ensure_admin").split()[-2:]
            self.manage(env, "setup_periodic_tasks")
            self.manage(env, "collectstatic", "--noinput")
            flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or _secret_file(
                self.data_dir / "flower-auth", lambda: f"flower:{secrets.token_urlsafe(12)}")
            web_bind = env.setdefault("EMMA_WEB_BIND", "127.0.0.1:8000")
            flower_port = env.get("EMMA_FLOWER_PORT", "5555")
            celery = [sys.executable, "-m", "celery", "-A", "config"]
            self.spawn("web", [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"], env)
            self.spawn("worker", [*celery, "worker", "-Q", QUEUES, "-E", "-l", "INFO",
                                  "-c", env.get("CELERY_WORKER_CONCURRENCY", "2"), "-n", "worker@%h"], env)
            self.spawn("beat", [*celery, "beat", "-l", "INFO"], env)
            # Flower serves its own /metrics; it stays out of Emma's multiprocess metrics.
            flower_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            self.spawn("flower", [*celery, "flower", "--address=127.0.0.1", f"--port={flower_port}",
                                  f"--basic-auth={flower_auth}", "--persistent=False"], flower_env)
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
    Data          {self.data_dir}
  Press Ctrl-C to stop everything.
""", flush=True)
            while not self.stopping:
                for name, process in self.processes.items():
                    if process.poll() is not None and not self.stopping:
                        _say(f"{name} exited with code {process.returncode}; stopping the rest")
                        self.stop()
                        return 1
                time.sleep(0.5)
            return 0
        except BaseException:
            self.stop()
            raise


if __name__ == "__main__":
    sys.exit(Launcher().run())
