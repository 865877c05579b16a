"""Fixtures of the core tests: account emails as they are sent (tests/core/people.py)."""

from tests.core.people import sent  # noqa: F401 - a fixture
