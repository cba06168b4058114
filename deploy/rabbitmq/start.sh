#!/bin/bash
# RabbitMQ's start in compose.yaml: the image's own entrypoint, then the broker's users, made at
# every start from deploy/.env (the definitions loaded at boot create no user, not even guest:
# README.md here):
#   vecmesh  vecmeshd's, every permission on /sutazai (RABBITMQ_VECMESH_PASSWORD);
#   admin    the management UI's (:15672), tag administrator (RABBITMQ_ADMIN_PASSWORD).
# Each is deleted and made again, so a password changed in deploy/.env holds after a restart of
# this container (users live in the node's database, which the data volume keeps).
set -euo pipefail

: "${RABBITMQ_VECMESH_PASSWORD:?set RABBITMQ_VECMESH_PASSWORD in deploy/.env}"
: "${RABBITMQ_ADMIN_PASSWORD:?set RABBITMQ_ADMIN_PASSWORD in deploy/.env}"

docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM "$server"; wait "$server"; exit' TERM INT

# The node writes the Erlang cookie as it starts; rabbitmqctl (run here as root, with the image's
# HOME) must not create one first, which the node could not read.
for _ in $(seq 600); do
  [[ -s "$HOME/.erlang.cookie" ]] && break
  kill -0 "$server" 2>/dev/null || exit 1
  sleep 0.2
done
# In the background, so that a SIGTERM meanwhile is taken at once.
rabbitmqctl --quiet await_startup --timeout 300 &
wait $!

user() {  # NAME PASSWORD
  rabbitmqctl --quiet delete_user "$1" >/dev/null 2>&1 || true
  # The password on stdin: never in the process list.
  printf '%s' "$2" | rabbitmqctl --quiet add_user "$1" >/dev/null
  rabbitmqctl --quiet set_permissions -p /sutazai "$1" '.*' '.*' '.*'
}
user vecmesh "$RABBITMQ_VECMESH_PASSWORD"
user admin "$RABBITMQ_ADMIN_PASSWORD"
rabbitmqctl --quiet set_user_tags admin administrator
echo "rabbitmq/start.sh: users vecmesh and admin set from deploy/.env"
wait "$server"
