"""VACUUM (ANALYZE) of Emma's tables, one table at a time, on a connection of its own in autocommit:
VACUUM cannot run inside a transaction block, whatever the caller has open."""

import time

from psycopg import sql

from operations import pg


def vacuum_tables() -> list[str]:
    with pg.connect() as conn:
        return pg.emma_tables(conn) + pg.beat_tables(conn)


def database_vacuum(*, tables: list[str] | None = None) -> dict:
    """Run VACUUM (ANALYZE) on each of Emma's tables and django-celery-beat's; seconds per table."""
    tables = tables or vacuum_tables()
    durations = {}
    clock = time.monotonic()
    with pg.connect() as conn:
        for table in tables:
            started = time.monotonic()
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            durations[table] = round(time.monotonic() - started, 3)
    return {"tables": durations, "seconds": round(time.monotonic() - clock, 3)}
