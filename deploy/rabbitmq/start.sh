#!/bin/bash
# RabbitMQ's start in compose.yaml: the image's own entrypoint, then vecmeshd's user, created once
# per data volume from RABBITMQ_VECMESH_PASSWORD (deploy/.env). The definitions loaded at boot
# create neither users nor the default guest (README.md here), so without this nobody could log in.
set -euo pipefail

: "${RABBITMQ_VECMESH_PASSWORD:?set RABBITMQ_VECMESH_PASSWORD in deploy/.env}"

docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM "$server"; wait "$server"' TERM INT

rabbitmqctl --quiet await_startup --timeout 120
if ! rabbitmqctl --quiet list_users --no-table-headers | cut -f1 | grep -qx vecmesh; then
  # The password on stdin: never in the process list.
  printf '%s' "$RABBITMQ_VECMESH_PASSWORD" | rabbitmqctl --quiet add_user vecmesh
  rabbitmqctl --quiet set_permissions -p /sutazai vecmesh '.*' '.*' '.*'
  echo "rabbitmq/start.sh: user vecmesh created, with every permission on /sutazai"
fi
wait "$server"
