#!/usr/bin/env bash
# Agent-link benchmarks: kill propagation through a real agent, and idle
# agent streams held by one control plane.
#   bench/link/run.sh [KILLS] [STREAMS] [HOLD_SECONDS]   (default 10000 10000 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
kills=${1:-10000}
streams=${2:-10000}
hold=${3:-60}

# WARDEN_BENCH_BUILD: another Release build directory (one shared with a
# compiler cache, say); build/bench by default.
build=${WARDEN_BENCH_BUILD:-build/bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" warden-control warden-agent kill_latency idle_streams grpcurl-compat >/dev/null
ulimit -n "$(ulimit -Hn)"  # one connection per idle agent

work=$(mktemp -d /tmp/warden-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop "$work" immediate
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
PG_EXTRA_CONF="shared_buffers = 256MB" pg_init "$work" >/dev/null
port=$(pg_start "$work")
pg_psql "$work" -d postgres -c "CREATE DATABASE warden"
key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
control_port=$(( 40000 + RANDOM % 20000 ))
target=127.0.0.1:$control_port
WARDEN_ADMIN_KEY=$key "$build"/controlplane/warden-control --listen "$target" --insecure \
  --database-url "$(pg_url "$work" warden)" --db-pool-size 4 >/dev/null 2>"$work/control.log" &
control_pid=$!
pids+=("$control_pid")
for _ in $(seq 1 100); do grep -qs "serving on" "$work/control.log" && break; sleep 0.1; done

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL, warden-control, the agent and the load tool on one machine, loopback"

echo
echo "== kill propagation: KillSession(wait) → stream → agent → memory driver → ack, $kills kills"
ticket=$("$build"/tools/grpcurl/grpcurl-compat -plaintext -H "authorization: Bearer $key" \
  -d '{"nodeName":"bench-agent"}' "$target" warden.v1.AdminService/CreateEnrollmentTicket \
  | sed -n 's/.*"ticket": "\(wet_[0-9a-f]*\)".*/\1/p')
"$build"/agent/warden-agent --control "$target" --insecure --state-dir "$work/agent" \
  --enroll-ticket "$ticket" --driver "memory:$work/memory.sock" --log-level warn 2>"$work/agent.log" &
pids+=("$!")
for _ in $(seq 1 100); do [ -S "$work/memory.sock" ] && break; sleep 0.1; done
sleep 1
"$build"/bench/kill_latency --target "$target" --admin-key "$key" \
  --driver-socket "$work/memory.sock" --kills "$kills"

echo
echo "== idle agent streams: $streams streams, each on its own connection, held $hold s"
"$build"/bench/idle_streams --target "$target" --admin-key "$key" --pid "$control_pid" \
  --streams "$streams" --hold "$hold"
