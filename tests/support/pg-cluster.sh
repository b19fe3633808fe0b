#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the tests (never for data that matters).
#   pg-cluster.sh create DIR [durable]  init + start in DIR (a new empty dir under /tmp); prints
#                                 the port. "durable" keeps synchronous_commit on, so a commit
#                                 PostgreSQL acknowledged survives a crash of the server
#   pg-cluster.sh standby DIR PRIMARY_DIR  a hot standby of the cluster in PRIMARY_DIR, streaming
#                                 from it, started in DIR; prints the port
#   pg-cluster.sh start DIR PORT  start again on the same port
#   pg-cluster.sh stop DIR [MODE] stop (fast, or immediate: a crash), keep the data
#   pg-cluster.sh listen DIR ADDRESS CIDR  also listen on ADDRESS, trust clients in CIDR; restarts
#   pg-cluster.sh destroy DIR     stop (immediate) and remove DIR
#   pg-cluster.sh tls DIR CERT KEY  serve TLS with this certificate (PEM); returns once it does
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
    if [ "${3:-}" = durable ]; then
      PG_EXTRA_CONF=${PG_EXTRA_CONF/synchronous_commit = off/synchronous_commit = on}
    fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    PG_INITDB_EXTRA=--no-sync pg_init "$dir"
    pg_start "$dir"
    ;;
  standby)
    primary=${3:?missing PRIMARY_DIR}
    mkdir -p "$dir/sock"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown "$PG_OS_USER:" "$dir" "$dir/sock"
    # initdb's pg_hba.conf trusts replication from 127.0.0.1; -R makes it a
    # standby that streams from the primary.
    pg_as_owner "$(pg_bindir)/pg_basebackup" -h 127.0.0.1 -p "$(cat "$primary/port")" \
      -U postgres -D "$dir/data" -R -X stream --checkpoint=fast --no-sync >"$dir/basebackup.log" 2>&1 \
      || { cat "$dir/basebackup.log" >&2; exit 1; }
    printf "unix_socket_directories = '%s'\n" "$dir/sock" >>"$dir/data/postgresql.conf"
    pg_start "$dir"
    ;;
  start) pg_start "$dir" "${3:?missing PORT}" ;;
  stop) pg_stop "$dir" "${3:-fast}" ;;
  listen)
    address=${3:?missing ADDRESS}
    cidr=${4:?missing CIDR}
    printf "listen_addresses = '127.0.0.1,%s'\n" "$address" >>"$dir/data/postgresql.conf"
    printf "host all all %s trust\n" "$cidr" >>"$dir/data/pg_hba.conf"
    port=$(cat "$dir/port")
    pg_stop "$dir" fast
    pg_start "$dir" "$port" >/dev/null
    ;;
  tls)
    cert=${3:?missing CERT}
    key=${4:?missing KEY}
    # The server reads them as its own user, and refuses a key others may read.
    install -m 0644 "$cert" "$dir/data/server.crt"
    install -m 0600 "$key" "$dir/data/server.key"
    [ "$(id -u)" = 0 ] && chown "$PG_OS_USER:" "$dir/data/server.crt" "$dir/data/server.key"
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$dir/data/postgresql.conf"
    pg_as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" reload >/dev/null
    # The reload is asynchronous: wait (up to 10 s) until a TLS connection works.
    url="postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=require"
    for _ in $(seq 1 100); do
      "$(pg_bindir)/psql" "$url" -qAt -c "SELECT 1" >/dev/null 2>&1 && exit 0
      sleep 0.1
    done
    echo "error: the server did not start serving TLS; see $dir/server.log" >&2
    exit 1
    ;;
  destroy)
    case "$dir" in /tmp/warden-*) ;; *) echo "refusing to remove $dir" >&2; exit 1 ;; esac
    pg_stop "$dir" immediate
    rm -rf "$dir"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
