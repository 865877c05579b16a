"""The Celery application. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("emma")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect(weak=False)
def _check_database_connections(**_):
    # Connections live across tasks (CELERY_DB_REUSE_MAX): drop a broken or too old one before the
    # task uses it, by Django's own rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS), as at each request.
    close_old_connections()

