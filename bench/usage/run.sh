#!/usr/bin/env bash
# Usage ledger benchmark: simulated agents report their sessions' counters at
# a steady rate while a modest admission load measures Admit latency, alone
# and alongside.
#   bench/usage/run.sh [RATE] [SECONDS] [AGENTS] [SESSIONS]   (default 5000 30 100 5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
source bench/lib/control.sh
source bench/lib/database.sh
rate=${1:-5000}
secs=${2:-30}
agents=${3:-100}
sessions=${4:-5000}

# WARDEN_BENCH_BUILD: another Release build directory (one shared with a
# compiler cache, say); build/bench by default.
build=${WARDEN_BENCH_BUILD:-build/bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" warden-control usage_load >/dev/null
ulimit -n "$(ulimit -Hn)"  # one connection per simulated agent

bench_start_database
metrics_port=$(( 50000 + RANDOM % 10000 ))
bench_start_control "$build"/controlplane/warden-control --db-pool-size 4 \
  --metrics-listen "127.0.0.1:$metrics_port"

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'), fsync on, synchronous_commit on; PostgreSQL, warden-control and the load on this one machine"
echo
echo "== $agents agents, $sessions sessions, $rate samples/s for ${secs}s; Admit + CloseSession at 20/s, alone then alongside"
"$build"/bench/usage_load --target "$addr" --metrics "127.0.0.1:$metrics_port" \
  --admin-key "$key" --agents "$agents" --sessions "$sessions" --rate "$rate" \
  --duration "$secs" --admit-rate 20
