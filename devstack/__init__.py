"""The launcher behind `make run`, `make test` and `make bench`: embedded PostgreSQL and Valkey when
DATABASE_URL / REDIS_URL are unset, their URLs exported to the processes it starts, and those processes
stopped in order at exit. Development only: production installs neither the embedded wheels nor honcho
(requirements/local.txt) and never imports this package."""
