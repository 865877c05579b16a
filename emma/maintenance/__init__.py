"""Operations: verified backups and restore, log retention, VACUUM, and the lock and run record every
maintenance job goes through.

- `pg`: connections of their own and the PostgreSQL client programs (pg_dump, pg_restore) of the server's version.
- `locks`: one advisory lock per job, across processes and machines.
- `runs`: `run_job` takes the lock, skips a schedule tick already run, records the run and its figures.
- `backups`, `restore`, `retention` (with `prunables`, what Emma's own apps let go), `vacuum`: the work, as services.
- `jobs`: each job as the beat tasks and the management commands run it.
- `metrics`: run counters and the gauges read from the run and backup records at scrape time.
"""
