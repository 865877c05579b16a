"""Emma's settings: base.py (shared), local.py (`make run`, a developer's shell), test.py, production.py.

`.env` is read into the environment here, before any of them, and only when DJANGO_READ_DOT_ENV_FILE=1
(variables already set win): local.py looks at DATABASE_URL / REDIS_URL before base.py is read."""

from pathlib import Path

import environ

if environ.Env().bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    environ.Env.read_env(str(Path(__file__).resolve().parents[2] / ".env"))
