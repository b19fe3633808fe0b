#!/usr/bin/env bash
# CTest fixture: one PostgreSQL cluster for the whole test run.
#   pg-fixture.sh setup ENV_FILE    create a cluster, write its coordinates to ENV_FILE
#   pg-fixture.sh cleanup ENV_FILE  destroy it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: pg-fixture.sh setup|cleanup ENV_FILE}
env_file=${2:?missing ENV_FILE}
case "$cmd" in
  setup)
    if [ -f "$env_file" ]; then  # a previous run that was interrupted
      old_dir=$(sed -n 's/^WARDEN_TEST_PG_DIR=//p' "$env_file")
      [ -n "$old_dir" ] && bash "$here/pg-cluster.sh" destroy "$old_dir" || true
      rm -f "$env_file"
    fi
    dir=$(mktemp -d /tmp/warden-test-pg.XXXXXX)
    port=$(bash "$here/pg-cluster.sh" create "$dir")
    mkdir -p "$(dirname "$env_file")"
    printf 'WARDEN_TEST_PG_DIR=%s\nWARDEN_TEST_PG_PORT=%s\n' "$dir" "$port" > "$env_file"
    echo "test PostgreSQL in $dir on port $port"
    ;;
  cleanup)
    [ -f "$env_file" ] || exit 0
    dir=$(sed -n 's/^WARDEN_TEST_PG_DIR=//p' "$env_file")
    bash "$here/pg-cluster.sh" destroy "$dir"
    rm -f "$env_file"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
