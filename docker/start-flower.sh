#!/bin/sh
set -e
: "${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}"
exec celery -A config flower --address=0.0.0.0 --port=5555 --basic-auth="$FLOWER_BASIC_AUTH"
