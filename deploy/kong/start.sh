#!/bin/sh
# Kong's start in compose.yaml: kong.yml plus its consumers, whose keys come from the environment
# (deploy/.env), written to a file only this container reads; then Kong's own entrypoint.
# The keys are vecmeshd's (VECMESH_ADMIN_KEYS, VECMESH_READ_WRITE_KEYS, VECMESH_READ_ONLY_KEYS, each
# a comma-separated list): a caller's api-key is checked here and again, with its role, by vecmeshd.
# (The paths can be moved for tests/deploy/compose_test.py.)
set -eu

source_config=${VECMESH_KONG_SOURCE:-/etc/kong/vecmesh/kong.yml}
config=${VECMESH_KONG_CONFIG:-/tmp/kong/kong.yml}
entrypoint=${VECMESH_KONG_ENTRYPOINT:-/docker-entrypoint.sh}

mkdir -p "$(dirname "$config")"
umask 077
cp "$source_config" "$config"

consumer() {  # ROLE KEYS
  role=$1
  case $2 in
    *[!A-Za-z0-9._~,-]*)
      echo "kong/start.sh: a key of $role holds a character other than A-Z a-z 0-9 . _ ~ -" >&2
      exit 1 ;;
  esac
  # shellcheck disable=SC2046 # split on the commas; the characters were checked above
  set -- $(printf '%s' "$2" | tr ',' ' ')
  [ $# -gt 0 ] || return 0
  printf '  - username: %s\n    keyauth_credentials:\n' "$role" >>"$config"
  for key in "$@"; do
    printf '      - key: "%s"\n' "$key" >>"$config"
  done
}

echo "consumers:" >>"$config"
consumer admin "${VECMESH_ADMIN_KEYS:-}"
consumer read_write "${VECMESH_READ_WRITE_KEYS:-}"
consumer read_only "${VECMESH_READ_ONLY_KEYS:-}"
if ! grep -q 'key: ' "$config"; then
  echo "kong/start.sh: no API key in VECMESH_ADMIN_KEYS, VECMESH_READ_WRITE_KEYS or VECMESH_READ_ONLY_KEYS" >&2
  exit 1
fi

export KONG_DECLARATIVE_CONFIG="$config"
exec "$entrypoint" kong docker-start
