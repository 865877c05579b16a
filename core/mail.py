"""Django's console email backend, writing to the process's own standard output. In a Celery worker
sys.stdout is redirected into the logs (JSON lines), where an email becomes one escaped line that nobody can
read or click; under `make run` the console is where a person reads their invitation."""

import sys

from django.core.mail.backends import console


class EmailBackend(console.EmailBackend):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("stream", sys.__stdout__)
        super().__init__(*args, **kwargs)
