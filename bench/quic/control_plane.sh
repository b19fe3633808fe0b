# Sourced by the QUIC benches: PostgreSQL in $work, warden-control from
# $build on a random port with the user bench (password bench-password),
# and an enrollment ticket for node NODE. Sets $target and $ticket; adds
# warden-control to $pids (the caller's cleanup stops it and PostgreSQL).
#   start_control_plane NODE
# shellcheck shell=bash disable=SC2154,SC2034
source scripts/lib/postgres.sh

start_control_plane() {
  local key
  pg_init "$work" >/dev/null
  pg_start "$work" >/dev/null
  pg_psql "$work" -d postgres -c "CREATE DATABASE warden" >/dev/null
  key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  target=127.0.0.1:$(( 40000 + RANDOM % 20000 ))
  WARDEN_ADMIN_KEY=$key "$build/controlplane/warden-control" --listen "$target" --insecure \
    --database-url "$(pg_url "$work" warden)" --db-pool-size 4 >/dev/null 2>"$work/control.log" &
  pids+=("$!")
  for _ in $(seq 1 100); do grep -qs "serving on" "$work/control.log" && break; sleep 0.1; done
  grpc() { "$build/tools/grpcurl/grpcurl-compat" -plaintext -H "authorization: Bearer $key" "$@"; }
  grpc -d '{"user":{"username":"bench","password":"bench-password","maxConnections":5}}' \
    "$target" warden.v1.AdminService/CreateUser >/dev/null
  ticket=$(grpc -d "{\"nodeName\":\"$1\"}" "$target" warden.v1.AdminService/CreateEnrollmentTicket \
    | sed -n 's/.*"ticket": "\(wet_[0-9a-f]*\)".*/\1/p')
}
