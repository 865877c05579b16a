#!/bin/sh
# CELERY_QUEUES: the queues this worker consumes (Kubernetes runs `maintenance` on a worker of its own,
# the one with the backups volume).
set -e
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A config worker -Q "${CELERY_QUEUES:-agent,escalations,integrations,maintenance,default}" \
  -c "${CELERY_WORKER_CONCURRENCY:-2}" -E -l "${LOG_LEVEL:-INFO}"
