#!/bin/sh
# Run once per deploy, before the new web and worker processes start.
set -e
python manage.py migrate --noinput
python manage.py setup_periodic_tasks
