#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # settings load here: a missing variable is one line, not a traceback
    except ImproperlyConfigured as exc:
        sys.exit(f"emma: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
