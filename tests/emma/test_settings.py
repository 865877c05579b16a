"""Production settings refuse to start with unsafe values (each case in a fresh interpreter)."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

SAFE = {"DJANGO_SECRET_KEY": "a-real-secret-of-some-length-0123456789", "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "emma.example.com"}


def load_production_settings(**overrides):
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.production", **{**SAFE, **overrides})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.django_db
def test_production_settings_load_when_safe():
    result = load_production_settings()
    assert result.returncode == 0, result.stderr[-2000:]


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
