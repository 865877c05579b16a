"""One lock per maintenance job, across processes and machines: a PostgreSQL session advisory lock held
on a connection of its own for the length of the run. It dies with that connection, so a worker killed
mid-run never leaves a job locked."""

import zlib
from contextlib import contextmanager

from operations import pg

# pg_try_advisory_lock(namespace, key): the audit chain uses 0x45AD; maintenance jobs use this one.
LOCK_NAMESPACE = 0x4D41


def lock_key(job: str) -> int:
    """A stable signed 32-bit key for the job's name."""
    return zlib.crc32(job.encode()) - 2**31


@contextmanager
def job_lock(job: str):
    """Yield True while this process holds the job's lock, False (at once, without waiting) when
    another run holds it."""
    conn = pg.connect()
    try:
        held = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, lock_key(job)]).fetchone()[0]
        yield held
    finally:
        conn.close()  # ends the session, and with it the lock
