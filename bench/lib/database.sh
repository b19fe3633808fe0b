# A private PostgreSQL for a benchmark. Source it after scripts/lib/postgres.sh.

# bench_start_database: a new directory $work with PostgreSQL running in it
# (durable, as in production: fsync and synchronous_commit stay on) and a
# database "warden"; sets work, port, url, key (a fresh admin key) and an
# EXIT trap that stops warden-control ($control_pid), the processes in
# $bench_pids, and PostgreSQL, and removes $work.
bench_start_database() {
  work=$(mktemp -d /tmp/warden-bench.XXXXXX)
  control_pid=""
  bench_pids=""
  trap bench_cleanup EXIT
  chmod 755 "$work"
  PG_EXTRA_CONF="shared_buffers = 256MB
max_wal_size = 4GB" pg_init "$work" >/dev/null
  port=$(pg_start "$work")
  pg_psql "$work" -d postgres -c "CREATE DATABASE warden" >/dev/null
  url=$(pg_url "$work" warden)
  key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
}

bench_cleanup() {
  local pid
  for pid in $bench_pids; do kill "$pid" 2>/dev/null || true; done
  [ -n "$control_pid" ] && kill "$control_pid" 2>/dev/null && wait "$control_pid" 2>/dev/null
  pg_stop "$work" immediate
  rm -rf "$work"
}
