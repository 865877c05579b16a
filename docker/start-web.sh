#!/bin/sh
set -e
# A fresh multiprocess metrics dir for this container's gunicorn workers.
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec gunicorn -c config/gunicorn.py --bind 0.0.0.0:8000 config.wsgi
