"""Settings of the processes the suite starts (Celery workers, beat, manage.py): config.settings.test plus
the values this test run chose for them (tests.conftest.CHILD_SETTINGS), which subprocess_env passes as
JSON in EMMA_TEST_CHILD_SETTINGS, such as the fake vendors' loopback URLs."""

import json
import os

from config.settings.test import *  # noqa: F403

for _name, _value in json.loads(os.environ.get("EMMA_TEST_CHILD_SETTINGS") or "{}").items():
    assert _name.isupper(), f"not a setting: {_name}"
    globals()[_name] = _value
