#!/usr/bin/env bash
# The WireGuard driver's poll cost with 1,000 and 10,000 peers on a real
# wireguard-go interface, in a private network namespace (needs root).
#   bench/wireguard/run.sh [COUNTS] [benchmark flags...]   (default COUNTS 1000,10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=${1:-1000,10000}
shift || true
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, tun device)" >&2; exit 1; }
for tool in wireguard-go ip; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

build=build/bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" wg_poll_bench >/dev/null

# Unique per run: the UAPI socket path /var/run/wireguard/<iface>.sock is not per netns.
tag=$(( $$ % 100000 ))$(od -An -N1 -tx1 /dev/urandom | tr -d ' ')
ns="wgbench-$$"
iface="wgb$tag"
work=$(mktemp -d /tmp/wgbench.XXXXXX)
wg_pid=""
cleanup() {
  [ -n "$wg_pid" ] && kill "$wg_pid" 2>/dev/null && wait "$wg_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -f "/var/run/wireguard/$iface.sock"
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go -f "$iface" >"$work/wg.log" 2>&1 &
wg_pid=$!
for _ in $(seq 1 100); do [ -S "/var/run/wireguard/$iface.sock" ] && break; sleep 0.05; done
[ -S "/var/run/wireguard/$iface.sock" ] || { cat "$work/wg.log"; exit 1; }

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null || echo "?")"
echo
echo "== poll cost: UAPI get + parse, and the driver's processing (CPU = this process, all threads)"
"$build/bench/wg_poll_bench" --iface="$iface" --wg-pid="$wg_pid" --counts="$counts" \
  --benchmark_counters_tabular=true "$@"
