#!/usr/bin/env bash
# Idle QUIC handshakes from one address (bench/quic/quic_flood.cc) against
# warden-agent while a real warden-connect from another address connects:
# its time to be admitted and pass a ping, without and during the flood;
# what became of the flood's handshakes; the agent's CPU and memory. Three
# agent configurations: the limits switched off (the endpoint as it was),
# Retry and the hello deadline without a per-address limit, and the defaults.
#   bench/quic/flood.sh [COUNT] [RUNS]   (default 4096 handshakes; 5 connects before the
#   flood, then one after another while it lasts)
# Needs root (network namespaces, TUN devices), ip, ping, openssl, curl. Builds a
# Release tree in $WARDEN_BUILD_DIR (default build/release).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/quic/control_plane.sh
count=${1:-4096}
runs=${2:-5}
hold=12
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, TUN devices)" >&2; exit 1; }
for tool in ip ping openssl curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

build=${WARDEN_BUILD_DIR:-build/release}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
ninja -C "$build" -j "${WARDEN_JOBS:-2}" warden-control warden-agent warden-connect \
  grpcurl-compat quic_flood >/dev/null

tag=$(( $$ % 100000 ))
client_ns="qfc-$$" flood_ns="qff-$$"
work=$(mktemp -d /tmp/warden-quic-flood.XXXXXX)
pids=()
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$client_ns" 2>/dev/null || true
  ip netns del "$flood_ns" 2>/dev/null || true
  pg_stop "$work" immediate
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

# The control plane, with one user.
start_control_plane flood-node
printf 'bench-password\n' >"$work/password"

# The rig: the node is the root namespace; the client (10.211.1.2) and the
# flood (10.211.2.2) each have a namespace and a veth pair of their own.
veth() { # NS HOST_ADDRESS PEER_ADDRESS
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip link add "v$1" type veth peer name "p$1"
  ip link set "p$1" netns "$1"
  ip addr add "$2/30" dev "v$1"
  ip link set "v$1" up
  ip -n "$1" addr add "$3/30" dev "p$1"
  ip -n "$1" link set "p$1" up
}
veth "$client_ns" 10.211.1.1 10.211.1.2
veth "$flood_ns" 10.211.2.1 10.211.2.2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
  -addext subjectAltName=DNS:bench -keyout "$work/quic.key" -out "$work/quic.crt" 2>/dev/null
qport=$(( 20000 + RANDOM % 20000 ))
mport=$(( 20000 + RANDOM % 20000 ))

start_agent() { # FLAGS...
  : >"$work/agent.log"
  local enroll=()
  # The first start enrols; later ones find the credential in the state dir.
  [ -n "$(ls -A "$work/agent" 2>/dev/null)" ] || enroll=(--enroll-ticket "$ticket")
  "$build/agent/warden-agent" --control "$target" --insecure --state-dir "$work/agent" \
    "${enroll[@]}" --quic-listen "0.0.0.0:$qport" --quic-cert "$work/quic.crt" \
    --quic-key "$work/quic.key" --quic-tun "wqf$tag" --quic-pool 10.212.0.0/24 \
    --metrics-listen "127.0.0.1:$mport" "$@" 2>"$work/agent.log" &
  agent_pid=$!
  for _ in $(seq 1 200); do grep -qs "attached node=" "$work/agent.log" && return 0; sleep 0.05; done
  echo "the agent did not attach:" >&2; cat "$work/agent.log" >&2; exit 1
}
stop_agent() {
  kill "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }

# One connect: warden-connect starts, is admitted, and a ping crosses the
# tunnel; prints the milliseconds it took, or why it failed (10 s at most).
connect_once() {
  local log="$work/connect.log" t0 t1 pid ok=0
  t0=$(date +%s%N)
  ip netns exec "$client_ns" "$build/client/warden-connect" --server "10.211.1.1:$qport" \
    --server-name bench --ca "$work/quic.crt" --user bench --password-file "$work/password" \
    --tun "wqc$tag" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do
    if grep -qs "connected:" "$log" &&
      ip netns exec "$client_ns" ping -c 1 -W 1 -q 10.212.0.1 >/dev/null 2>&1; then
      ok=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  t1=$(date +%s%N)
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$ok" = 1 ]; then
    echo $(( (t1 - t0) / 1000000 ))
  else
    echo "failed:$(tail -n 1 "$log" | sed 's/^warden-connect: //; s/ /_/g')"
  fi
}
connects() { # N: the times, space-separated
  local out=()
  for _ in $(seq 1 "$1"); do out+=("$(connect_once)"); done
  echo "${out[*]}"
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $count handshakes from 10.211.2.2, warden-connect from 10.211.1.2"
configurations=(
  "limits-off|--quic-retry-threshold 1048576 --quic-max-connections-per-address 0 --quic-hello-timeout-seconds 300"
  "retry+hello-deadline|--quic-max-connections-per-address 0"
  "defaults|"
)
for configuration in "${configurations[@]}"; do
  name=${configuration%%|*}
  flags=${configuration#*|}
  # shellcheck disable=SC2086
  start_agent $flags
  echo
  echo "== $name (agent flags: ${flags:-none})"
  echo "connect+ping without flood, ms: $(connects "$runs")"
  cpu0=$(cpu_ticks)
  ip netns exec "$flood_ns" "$build/bench/quic_flood" --server "10.211.2.1:$qport" --ca "$work/quic.crt" \
    --server-name bench --count "$count" --hold-seconds "$hold" >"$work/flood.log" 2>&1 &
  flood_pid=$!
  for _ in $(seq 1 2000); do grep -qs "^opened" "$work/flood.log" && break; sleep 0.01; done
  echo "flood: $(grep "^opened" "$work/flood.log" || echo 'not started')"
  # Connects one after another for as long as the flood runs, each with its
  # start in seconds after the last Initial went out, and the agent's
  # half-open connections then.
  during=() half_open=()
  flood_at=$(date +%s%N)
  while kill -0 "$flood_pid" 2>/dev/null; do
    at=$(( ($(date +%s%N) - flood_at) / 100000000 ))
    half_open+=("$(curl -s "http://127.0.0.1:$mport/metrics" \
      | awk '/^warden_quic_half_open_connections /{print $2}')")
    during+=("$(( at / 10 )).$(( at % 10 ))s:$(connect_once)")
    sleep 0.5
  done
  echo "connect+ping during flood, start:ms: ${during[*]}"
  echo "agent half-open connections at those starts: ${half_open[*]}"
  wait "$flood_pid" || true
  cpu1=$(cpu_ticks)
  echo "flood: $(grep "^tally" "$work/flood.log")"
  echo "agent: CPU $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms over the flood;" \
    "peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$agent_pid/status")"
  curl -s "http://127.0.0.1:$mport/metrics" \
    | grep -E '^warden_quic_(connections_total|retries_total|half_open_connections|connections |dropped_packets_total\{reason="not_quic"\})' \
    | sed 's/^/  /'
  stop_agent
done
