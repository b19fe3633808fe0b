#!/usr/bin/env bash
# The QUIC tunnel against wireguard-go on the same rig, in the same run:
# TCP throughput (iperf3, 1 and 4 streams, each way) and added latency (ping)
# between the root namespace (the node: warden-agent serving QUIC, and a
# wireguard-go interface) and a client namespace joined to it by a veth pair.
#   bench/quic/run.sh [SECONDS]   (default 10; needs root, iperf3, wireguard-go, wg)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/quic/control_plane.sh
seconds=${1:-10}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, TUN devices)" >&2; exit 1; }
for tool in iperf3 wireguard-go wg ip ping openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

build=build/bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" warden-control warden-agent warden-connect grpcurl-compat >/dev/null

tag=$(( $$ % 100000 ))
ns="qbench-$$"
work=$(mktemp -d /tmp/warden-quic-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del "qbv$tag" 2>/dev/null || true
  rm -f "/var/run/wireguard/wbs$tag.sock" "/var/run/wireguard/wbc$tag.sock"
  pg_stop "$work" immediate
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

# The control plane, with one user.
start_control_plane bench-node

# The rig: root namespace (node) 10.201.1.1/30 <-veth-> client namespace 10.201.1.2/30.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip link add "qbv$tag" type veth peer name "qbp$tag"
ip link set "qbp$tag" netns "$ns"
ip addr add 10.201.1.1/30 dev "qbv$tag"
ip link set "qbv$tag" up
ip -n "$ns" addr add 10.201.1.2/30 dev "qbp$tag"
ip -n "$ns" link set "qbp$tag" up

# QUIC: the agent serves 10.202.0.0/24 on its TUN device.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
  -addext subjectAltName=DNS:bench -keyout "$work/quic.key" -out "$work/quic.crt" 2>/dev/null
"$build/agent/warden-agent" --control "$target" --insecure --state-dir "$work/agent" \
  --enroll-ticket "$ticket" --quic-listen 10.201.1.1:4433 --quic-cert "$work/quic.crt" \
  --quic-key "$work/quic.key" --quic-tun "wqb$tag" --quic-pool 10.202.0.0/24 \
  --log-level warn 2>"$work/agent.log" &
pids+=("$!")
for _ in $(seq 1 100); do ip link show "wqb$tag" >/dev/null 2>&1 && break; sleep 0.1; done
printf 'bench-password\n' >"$work/password"
ip netns exec "$ns" "$build/client/warden-connect" --server 10.201.1.1:4433 --server-name bench \
  --ca "$work/quic.crt" --user bench --password-file "$work/password" --tun "wqc$tag" \
  >"$work/connect.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do grep -qs "connected:" "$work/connect.log" && break; sleep 0.1; done
grep -q "connected:" "$work/connect.log" || { cat "$work/connect.log" "$work/agent.log"; exit 1; }

# WireGuard: wireguard-go at both ends, 10.203.0.0/24.
server_key=$(wg genkey); client_key=$(wg genkey)
WG_PROCESS_FOREGROUND=1 wireguard-go "wbs$tag" >"$work/wgs.log" 2>&1 &
pids+=("$!")
WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "wbc$tag" >"$work/wgc.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  [ -S "/var/run/wireguard/wbs$tag.sock" ] && [ -S "/var/run/wireguard/wbc$tag.sock" ] && break
  sleep 0.05
done
wg set "wbs$tag" listen-port 51820 private-key <(echo "$server_key") \
  peer "$(echo "$client_key" | wg pubkey)" allowed-ips 10.203.0.2/32
ip addr add 10.203.0.1/24 dev "wbs$tag"
ip link set "wbs$tag" up
ip netns exec "$ns" wg set "wbc$tag" private-key <(echo "$client_key") \
  peer "$(echo "$server_key" | wg pubkey)" allowed-ips 10.203.0.0/24 endpoint 10.201.1.1:51820
ip -n "$ns" addr add 10.203.0.2/24 dev "wbc$tag"
ip -n "$ns" link set "wbc$tag" up

iperf3 -s -p 5201 >"$work/iperf3.log" 2>&1 &
pids+=("$!")
sleep 0.5
ip netns exec "$ns" ping -c 3 -W 2 10.203.0.1 >/dev/null
ip netns exec "$ns" ping -c 3 -W 2 10.202.0.1 >/dev/null

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
  "wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go), iperf3 $(dpkg-query -W -f='${Version}' iperf3);" \
  "MTU: QUIC $(cat /sys/class/net/wqb$tag/mtu), WireGuard $(cat /sys/class/net/wbs$tag/mtu)"

throughput() { # ADDRESS STREAMS [-R]; the one iperf3 server may still be busy with the last run
  local attempt
  for attempt in 1 2 3; do
    ip netns exec "$ns" iperf3 -c "$1" -p 5201 -t "$seconds" -P "$2" ${3:-} -J >"$work/run.json" || true
    python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' \
      "$work/run.json" 2>/dev/null && return
    sleep 1
  done
  echo "failed"
}
latency() { # ADDRESS
  ip netns exec "$ns" ping -q -c 200 -i 0.01 "$1" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/[0-9.]*/\([0-9.]*\) ms|\1 \2|p'
}

echo
echo "== TCP throughput, Mbit/s (iperf3, $seconds s; client namespace to node = up)"
printf '%-12s %8s %8s %8s %8s\n' tunnel "1 up" "1 down" "4 up" "4 down"
for pair in "QUIC 10.202.0.1" "WireGuard 10.203.0.1"; do
  set -- $pair
  printf '%-12s %8s %8s %8s %8s\n' "$1" "$(throughput "$2" 1)" "$(throughput "$2" 1 -R)" \
    "$(throughput "$2" 4)" "$(throughput "$2" 4 -R)"
done

echo
echo "== round trip, ms (ping, 200 at 10 ms; avg and mdev)"
printf '%-12s %s\n' "veth only" "$(latency 10.201.1.1)"
printf '%-12s %s\n' "QUIC" "$(latency 10.202.0.1)"
printf '%-12s %s\n' "WireGuard" "$(latency 10.203.0.1)"
