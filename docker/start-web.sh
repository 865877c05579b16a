#!/bin/sh
set -e
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"/* 2>/dev/null || true
exec gunicorn -c config/gunicorn.py --bind 0.0.0.0:8000 config.wsgi
