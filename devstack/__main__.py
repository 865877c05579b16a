"""The developer's launcher: `python -m devstack run | test [pytest args] | manage <command> [args]`.

- run: `make run`, the whole system in the foreground (devstack/run.py).
- test: `make test`, pytest against the embedded services of EMMA_TEST_DATA_DIR (default .emma/test),
  started for the run and stopped after it, unless DATABASE_URL / REDIS_URL are set.
- manage: one management command against the embedded services of EMMA_DATA_DIR (default .emma): those
  `make run` keeps up, or, when it is not up, started for the command and stopped after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack.stack import BASE_DIR, Stack

USAGE = "usage: python -m devstack run | test [pytest args] | manage <command> [args]"


def _say(message: str) -> None:
    print(f"emma | {message}", flush=True)


def with_services(data_dir: Path, command: list[str], env: dict) -> int:
    """Run `command` in the foreground with the data services' URLs exported, then stop the embedded
    services started for it. The command shares the terminal: Ctrl-C reaches it directly, and this
    process waits for it to finish (a SIGTERM here is passed on as SIGINT, so pytest still tears down)."""
    stack = Stack(data_dir)
    child: subprocess.Popen | None = None
    interrupted = False

    def on_signal(signum, _frame):
        nonlocal interrupted
        interrupted = True
        if child is not None and signum == signal.SIGTERM:
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.export_services(env, on_start=lambda names: _say(
            f"starting embedded {' and '.join(names)} in {stack.data_dir}"))
        if interrupted:  # while the services were starting: run nothing
            return 130
        child = subprocess.Popen(command, cwd=BASE_DIR, env=env)
        return child.wait()
    finally:
        stack.stop_services()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "manage"):
        print(USAGE, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if command == "run":
        from devstack.run import Launcher

        return Launcher().run()
    env = dict(os.environ)
    if command == "test":
        data_dir = Path(env.get("EMMA_TEST_DATA_DIR") or BASE_DIR / ".emma" / "test").resolve()
        env.update(EMMA_TEST_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings.test")
        return with_services(data_dir, [sys.executable, "-m", "pytest", *args], env)
    data_dir = Path(env.get("EMMA_DATA_DIR") or BASE_DIR / ".emma").resolve()
    env["EMMA_DATA_DIR"] = str(data_dir)
    return with_services(data_dir, [sys.executable, "manage.py", *args], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
