#!/usr/bin/env bash
# Login flood benchmark: 2,000 concurrent SessionService.Login calls with
# random usernames while 20 VPN logins (AgentService.Admit with the right
# password, one node) run, each within the agent's 5 s deadline. Twice: with
# the login throttle at its defaults, and with it off (the argon2id lanes
# alone). argon2id at the default cost (2 passes, 64 MiB), default threads.
#   bench/login/run.sh [LOGINS] [ADMISSIONS]       (default 2000 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
source bench/lib/control.sh
logins=${1:-2000}
admissions=${2:-20}
build=${WARDEN_BENCH_BUILD:-build/release}

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
ninja -C "$build" -j2 warden-control login_flood >/dev/null
flood=$build/bench/login_flood

work=$(mktemp -d /tmp/warden-bench.XXXXXX)
control_pid=""
stop_control() {
  [ -n "$control_pid" ] && kill "$control_pid" 2>/dev/null && wait "$control_pid" 2>/dev/null
  control_pid=""
}
cleanup() {
  stop_control || true
  pg_stop "$work" immediate
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
pg_init "$work" >/dev/null
port=$(pg_start "$work")
pg_psql "$work" -d postgres -c "CREATE DATABASE warden"
url=$(pg_url "$work" warden)
key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

start_control() { # extra flags...
  bench_start_control "$build/controlplane/warden-control" --metrics-listen 127.0.0.1:0 "$@"
  metrics_port=$(sed -n 's/.*serving \/metrics on port=\([0-9]*\).*/\1/p' "$work/control.log" | head -1)
}
lane_metrics() {
  echo
  curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -E '^warden_(password_(rejections|checks)_total|logins_throttled_total)' || true
}

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'); all processes on this one machine"
echo "argon2id default cost; --password-threads and --admission-password-threads default (one per core each)"

start_control
setup=$("$flood" --target "$addr" --admin-key "$key" --admissions "$admissions" --setup)
credential=$(sed -n 's/^node_credential=//p' <<<"$setup")

echo
echo "== throttle on (defaults: 5/min per username, 30/min burst 10 per address)"
"$flood" --target "$addr" --node-credential "$credential" --logins "$logins" --admissions "$admissions" || status=$?
lane_metrics
stop_control

echo
echo "== throttle off (--login-rate-per-username 0 --login-rate-per-address 0): the lanes alone"
start_control --login-rate-per-username 0 --login-rate-per-address 0
"$flood" --target "$addr" --node-credential "$credential" --logins "$logins" --admissions "$admissions" || status=$?
lane_metrics
stop_control
exit "${status:-0}"
