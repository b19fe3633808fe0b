#!/usr/bin/env bash
# A simulated fleet against three warden-control replicas on one database:
# admission latency under steady churn, kills sent to one replica for an
# agent attached to another, and what each replica and PostgreSQL spend.
#   bench/fleet/run.sh [AGENTS] [SESSIONS] [USERS] [SECONDS]   (default 500 10000 4000 60)
# Environment: WARDEN_BENCH_BUILD (a Release build directory, build/bench by
# default), FLEET_POOL (database connections per replica, 4), FLEET_CHURN
# (Admit + CloseSession per second, 200), FLEET_KILLS (cross-replica kills
# per second, 10), FLEET_TIMEOUT (seconds the simulator may take, 3000),
# FLEET_CONTROL_FLAGS (more warden-control flags, e.g. --heartbeat-seconds 30),
# FLEET_REPORT=0 to leave bench/REPORT.md alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
source bench/lib/control.sh
source bench/lib/database.sh
agents=${1:-500}
sessions=${2:-10000}
users=${3:-4000}
secs=${4:-60}
pool=${FLEET_POOL:-4}
churn=${FLEET_CHURN:-200}
kills=${FLEET_KILLS:-10}
build=${WARDEN_BENCH_BUILD:-build/bench}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" warden-control fleet_sim >/dev/null
# One connection per agent: each replica holds a third of them, the
# simulator all of them.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $(( agents + 1000 )) ]; then
  echo "error: open files limit $(ulimit -n) is too low for $agents agents" >&2
  exit 1
fi

# Three pools and a few listener connections per replica, pgbench-free.
export PG_MAX_CONNECTIONS=$(( 3 * (pool + 10) + 20 ))
bench_start_database
postgres_pid=$(head -1 "$work/data/postmaster.pid")
targets=() pids=()
for replica in 1 2 3; do
  bench_start_named "replica$replica" "$build"/controlplane/warden-control \
    --replica-id "replica-$replica" --db-pool-size "$pool" ${FLEET_CONTROL_FLAGS:-}
  targets+=("$addr")
  pids+=("$started_pid")
done

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "== machine: $machine; PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'), 3 replicas (pool $pool each) and the simulator on this one machine, loopback"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load average before: $load_before"
echo "== fleet: $agents agents, $sessions live sessions of $users users, churn $churn/s, $kills kills/s, $secs s measured"
out="$work/fleet.txt"
timeout "${FLEET_TIMEOUT:-3000}" "$build"/bench/fleet_sim \
  --targets "$(IFS=,; echo "${targets[*]}")" --replica-pids "$(IFS=,; echo "${pids[*]}")" \
  --admin-key "$key" --database-url "$url" --postgres-pid "$postgres_pid" \
  --agents "$agents" --sessions "$sessions" --users "$users" --seconds "$secs" \
  --churn-rate "$churn" --kill-rate "$kills" | tee "$out" || status=$?
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for replica in 1 2 3; do
  if grep -qiE "error|fatal" "$work/replica$replica.log"; then
    echo "== replica $replica log (errors):"
    grep -iE "error|fatal" "$work/replica$replica.log" | sort | uniq -c | sort -rn | head -10
  fi
done
grep -q '^row: ' "$out" || exit "${status:-1}"

[ "${FLEET_REPORT:-1}" = 0 ] && exit "${status:-0}"
report=bench/REPORT.md
if ! grep -q '^## Fleet (`bench/fleet/`)' "$report"; then
  cat >>"$report" <<'TEXT'

## Fleet (`bench/fleet/`)

**What is measured.** `fleet_sim` is one process speaking the agent
protocol for a whole fleet on gRPC's callback API: every simulated node
has its own credential (`CreateNode`, a trusted authenticator: clients are
named, not logged in), its own TCP connection and `Attach` stream (Hello
with the inventory it holds, heartbeats at the Welcome's interval, every
command acknowledged, a killed session reported closed on the stream).
Agent *i* attaches to replica *i* mod 3 of three `warden-control` replicas
on one PostgreSQL. Users have `max_connections` 3 (every fourth user 2,
`EVICT_OLDEST`); the fill admits round robin over users and agents. Then
15 s idle (heartbeats only), 5 s warm-up, and the measured window of
steady churn: connects (`Admit` of a random user on a random node, which
evicts where the user is at the limit) and disconnects (`CloseSession`)
steered to keep the live count, usage samples on the streams (100/s), and
administrator kills (`KillSession` sent to one of the two replicas that do
*not* hold the agent's stream), timed from the call to the agent receiving
the command — the `NOTIFY warden_commands` hop between replicas included.

Columns: *fill* is the time to admit the live sessions (admits/s);
*ops/s* the churn achieved; Admit latency from the scheduled start (open
loop); *evictions* the connects that evicted; *kill* p50 / p99 (kills
timed, never received); *KiB/stream* the RSS growth of a replica while
its agents attached, per agent (mean of the three); *RSS* the largest
replica at the end; CPU in % of one core, idle (heartbeats) / churn,
summed over the three replicas and over all PostgreSQL processes;
*ms/op* CPU per churn operation beyond the idle rate (replicas /
PostgreSQL); *NOTIFY/s* counted as outbox rows inserted plus answers
recorded per second (each sends one `NOTIFY`), an undercount of the
attach and credential notifications; *ended* streams that ended during
the window (should be 0); the last column is the CPU of the simulator
and of everything else on the machine (other builds and tests: the
machine is shared) during the window, from `/proc/stat`.
TEXT
fi
{
  echo
  echo "### $agents agents, $(grep -o 'live_after_fill=[0-9]*' "$out" | cut -d= -f2) live sessions, $(date -u +%Y-%m-%d)"
  echo
  echo "**Command.** \`bench/fleet/run.sh $agents $sessions $users $secs\` (pool $pool per replica, churn $churn/s, kills $kills/s${FLEET_CONTROL_FLAGS:+, replicas with $FLEET_CONTROL_FLAGS}). $machine; load average before the run $load_before."
  echo
  echo "| agents | live sessions | users | fill | ops/s | Admit p50 / p99 / p99.9 ms | evictions | kill p50 / p99 ms (timed, lost) | KiB/stream | RSS MiB | replicas CPU idle / churn | PostgreSQL CPU idle / churn | ms/op replicas / PostgreSQL | PG conns | commits/s | NOTIFY/s | ended | simulator / other processes CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  sed -n 's/^row: //p' "$out"
  echo
  echo '```'
  grep -v '^row: ' "$out"
  echo '```'
} >>"$report"
exit "${status:-0}"
