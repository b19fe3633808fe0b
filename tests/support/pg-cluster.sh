#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the tests (never for data that matters).
#   pg-cluster.sh create DIR      init + start in DIR (a new empty dir under /tmp); prints the port
#   pg-cluster.sh start DIR PORT  start again on the same port
#   pg-cluster.sh stop DIR        stop (fast), keep the data
#   pg-cluster.sh destroy DIR     stop (immediate) and remove DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lib/postgres.sh
source "$here/../../scripts/lib/postgres.sh"

# Durability is worthless for test data; speed is not.
export PG_EXTRA_CONF="fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 300
log_min_messages = warning"

cmd=${1:?usage: pg-cluster.sh create|start|stop|destroy DIR}
dir=${2:?missing DIR}
case "$cmd" in
  create)
    mkdir -p "$dir"
    chmod 755 "$dir"
    PG_INITDB_EXTRA=--no-sync pg_init "$dir"
    pg_start "$dir"
    ;;
  start) pg_start "$dir" "${3:?missing PORT}" ;;
  stop) pg_stop "$dir" fast ;;
  destroy)
    case "$dir" in /tmp/warden-*) ;; *) echo "refusing to remove $dir" >&2; exit 1 ;; esac
    pg_stop "$dir" immediate
    rm -rf "$dir"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
