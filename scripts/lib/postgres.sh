# A private PostgreSQL cluster in a directory of our own: initdb on first use,
# started on 127.0.0.1 and a unix socket inside the directory, trust auth for
# local connections only. PostgreSQL refuses to run as root, so as root the
# server runs as the system user "warden-pg" (created when missing).
# shellcheck shell=bash

PG_OS_USER=${PG_OS_USER:-warden-pg}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || { echo "error: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; return 1; }
  echo "$dir"
}

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

pg_ensure_os_user() {
  [ "$(id -u)" = 0 ] || return 0
  id "$PG_OS_USER" >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
}

pg_free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# pg_init DIR : creates the cluster in DIR/data unless it exists.
pg_init() {
  local dir=$1 bindir
  bindir=$(pg_bindir) || return 1
  pg_ensure_os_user
  mkdir -p "$dir/sock"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER:" "$dir" "$dir/sock"
  [ -f "$dir/data/PG_VERSION" ] && return 0
  if ! pg_as_owner test -w "$dir"; then
    echo "error: PostgreSQL's user $PG_OS_USER cannot reach $dir (is a parent directory private?)" >&2
    return 1
  fi
  pg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    ${PG_INITDB_EXTRA:-} >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
max_connections = ${PG_MAX_CONNECTIONS:-200}
${PG_EXTRA_CONF:-}
CONF
}

# pg_start DIR [PORT] : starts the cluster (a free port if none given); prints the port.
pg_start() {
  local dir=$1 port=${2:-} bindir try
  bindir=$(pg_bindir) || return 1
  for try in 1 2 3 4 5; do
    [ -n "${2:-}" ] || port=$(pg_free_port)
    if pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      echo "$port" > "$dir/port"
      echo "$port"
      return 0
    fi
    [ -n "${2:-}" ] && break
  done
  echo "error: PostgreSQL did not start; see $dir/server.log:" >&2
  tail -n 20 "$dir/server.log" >&2
  return 1
}

# pg_stop DIR [fast|immediate]
pg_stop() {
  local dir=$1 mode=${2:-fast} bindir
  bindir=$(pg_bindir) || return 1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
}

# pg_psql DIR [psql args...] : psql as the superuser over the cluster's socket.
pg_psql() {
  local dir=$1; shift
  "$(pg_bindir)/psql" -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

pg_url() { # DIR DBNAME
  echo "postgresql://postgres@127.0.0.1:$(cat "$1/port")/$2"
}
