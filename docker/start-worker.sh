#!/bin/sh
set -e
exec celery -A config worker -Q "${CELERY_QUEUES:-agent,escalations,integrations,maintenance,default}" \
  -c "${CELERY_WORKER_CONCURRENCY:-2}" -E -l "${LOG_LEVEL:-INFO}"
