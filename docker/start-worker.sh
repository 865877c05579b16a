#!/bin/sh
# Without CELERY_QUEUES / CELERY_EXCLUDE_QUEUES a worker consumes every queue in settings (CELERY_QUEUE_NAMES).
# Kubernetes runs `maintenance` on a worker of its own, the one with the backups volume: that worker sets
# CELERY_QUEUES=maintenance, the others CELERY_EXCLUDE_QUEUES=maintenance.
set -e
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A config worker ${CELERY_QUEUES:+-Q "$CELERY_QUEUES"} ${CELERY_EXCLUDE_QUEUES:+-X "$CELERY_EXCLUDE_QUEUES"} \
  -c "${CELERY_WORKER_CONCURRENCY:-2}" -E -l "${LOG_LEVEL:-INFO}"
