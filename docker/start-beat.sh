#!/bin/sh
# Exactly one beat per deployment: two would schedule every job twice (jobs also lock, as a backstop).
set -e
exec celery -A config beat -l "${LOG_LEVEL:-INFO}"
