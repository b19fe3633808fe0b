#!/usr/bin/env bash
# Signalling relay benchmark: two warden-control replicas on one private
# PostgreSQL; relays between two members on the same replica, then across.
#   bench/signal/run.sh [RELAYS] [BURST] [PAYLOAD_BYTES]   (default 10000 20000 256)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
relays=${1:-10000}
burst=${2:-20000}
payload=${3:-256}

cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C build/bench warden-control relay_latency >/dev/null

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
pg_init "$work" >/dev/null
port=$(pg_start "$work")
pg_psql "$work" -d postgres -c "CREATE DATABASE warden" >/dev/null
key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
targets=()
for replica in a b; do
  control_port=$(pg_free_port)
  WARDEN_ADMIN_KEY=$key build/bench/controlplane/warden-control --listen "127.0.0.1:$control_port" \
    --insecure --replica-id "replica-$replica" --database-url "$(pg_url "$work" warden)" \
    --db-pool-size 4 --signal-relay-rate 0 --log-level warn 2>"$work/control-$replica.log" &
  pids+=("$!")
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$control_port") 2>/dev/null && break
    sleep 0.1
  done
  targets+=("127.0.0.1:$control_port")
done

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL, two warden-control replicas and the clients on one machine, loopback"
echo
echo "== one replica: sender and receiver on ${targets[0]}"
build/bench/bench/relay_latency --sender "${targets[0]}" --receiver "${targets[0]}" \
  --admin-key "$key" --relays "$relays" --burst "$burst" --payload "$payload"
echo
echo "== across replicas: sender on ${targets[0]}, receiver on ${targets[1]} (LISTEN/NOTIFY)"
build/bench/bench/relay_latency --sender "${targets[0]}" --receiver "${targets[1]}" \
  --admin-key "$key" --relays "$relays" --burst "$burst" --payload "$payload"
