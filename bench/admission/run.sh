#!/usr/bin/env bash
# Admission benchmark: warden-control against the physical bound of this
# machine, pgbench running the same SQL on the same PostgreSQL in the same run.
#   bench/admission/run.sh [SECONDS_PER_POINT] [notify|pinned]   (default 20)
# "notify" runs only the comparison of the pipelined script with and without
# NOTIFY inside its transactions; "pinned" only the bounds and warden with
# PostgreSQL on a core of its own.
# Needs root or a user that may run PostgreSQL; installs nothing itself
# beyond what ./scripts/test installs (postgresql-contrib ships pgbench).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib/postgres.sh
source bench/lib/control.sh
source bench/lib/database.sh
secs=${1:-20}
only=${2:-}
users=10000
levels="1 4 16 64"

cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C build/bench warden-control admission_load >/dev/null
load=build/bench/bench/admission_load
pgbench=$(pg_bindir)/pgbench

bench_start_database
psql_w() { pg_psql "$work" -d warden "$@"; }

bench_start_control build/bench/controlplane/warden-control --db-pool-size 4

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'), fsync on, synchronous_commit on; all processes on this one machine"
echo
echo "== setup: $users users at their limit of 3 live sessions"
setup=$("$load" --target "$addr" --admin-key "$key" --users "$users" --setup)
credential=$(sed -n 's/^node_credential=//p' <<<"$setup")
node=$(sed -n 's/^node_id=//p' <<<"$setup")
psql_w -c "VACUUM ANALYZE" >/dev/null

echo
# pgbench connects as warden-control does: TCP on 127.0.0.1.
# The bounds: the statements as warden sent them one by one before (five
# round trips), a simplified pipelined form (two round trips), and warden's
# own statements in its round trips (three with the close), on a connection
# set up as warden's pipeline connections are (generic plans).
old_sql=bench/admission/admission.pgbench.sql
new_sql=bench/admission/admission_pipelined.pgbench.sql
warden_sql=bench/admission/admission_warden.pgbench.sql
# warden's statements as they are, one per round trip: what the store would
# cost without libpq's pipeline mode.
unpipelined_sql=$work/admission_warden_unpipelined.pgbench.sql
grep -v -e '^\\startpipeline$' -e '^\\endpipeline$' "$warden_sql" > "$unpipelined_sql"
if grep -q '^\\.*pipeline' "$unpipelined_sql" || [ "$(grep -c '^\\startpipeline$' "$warden_sql")" -ne 3 ]; then
  echo "cannot derive the unpipelined form of $warden_sql" >&2
  exit 1
fi
# Empty, or "taskset -c CPUS" while the clients are kept off PostgreSQL's core.
client_cpus=""
run_pgbench() { # SCRIPT CLIENTS [extra pgbench args]; prints "tps p50_ms p99_ms"
  local script=$1 c=$2 options=""; shift 2
  [ "$script" = "$warden_sql" ] || [ "$script" = "$unpipelined_sql" ] &&
    options="-c plan_cache_mode=force_generic_plan"
  rm -f "$work"/pgb.*
  out=$(PGOPTIONS=$options $client_cpus "$pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M prepared -c "$c" \
        -j "$(( c < 2 ? 1 : 2 ))" -T "$secs" -D node="$node" -D users="$users" \
        -D none=- -D vouched=0 "$@" \
        -l --log-prefix="$work/pgb" -f "$script" warden 2>&1) \
    || { echo "$out" >&2; exit 1; }
  read -r p50 p99 < <(cat "$work"/pgb.* | awk '{print $3}' | sort -n \
    | awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
  echo "$(sed -n 's/^tps = \([0-9]*\).*/\1/p' <<<"$out") $p50 $p99"
}
# The same comparison with PostgreSQL on core 0 and every client (pgbench,
# warden-control and its load generator) on the other cores, as when the
# database has a machine of its own: the clients' CPU no longer takes
# PostgreSQL's. Prints one line per level.
compare_pinned() {
  local cpus="1-$(( $(nproc) - 1 ))" postmaster pid c
  postmaster=$(head -1 "$work/data/postmaster.pid")
  # Backends started later inherit the postmaster's mask.
  for pid in $postmaster $(pgrep -P "$postmaster"); do taskset -p 0x1 "$pid" >/dev/null; done
  taskset -a -p -c "$cpus" "$control_pid" >/dev/null
  client_cpus="taskset -c $cpus"
  echo "== PostgreSQL on core 0, the clients on cores $cpus, ${secs}s per point"
  echo "clients    one statement per round trip   pipelined, simplified   warden's statements, one per round trip   warden's statements, pipelined   warden (p50 / p99 / p99.9 ms)"
  for c in $levels; do
    read -r tps _ < <(run_pgbench "$old_sql" "$c")
    read -r ptps _ < <(run_pgbench "$new_sql" "$c")
    read -r utps _ < <(run_pgbench "$unpipelined_sql" "$c")
    read -r wtps _ < <(run_pgbench "$warden_sql" "$c")
    read -r _ _ _ its p50 p99 p999 _ < <($client_cpus "$load" --target "$addr" \
      --node-credential "$credential" --users "$users" --concurrency "$c" --duration "$secs" | tail -1)
    printf "%-10s %-30s %-23s %-41s %-32s %s (%s / %s / %s)\n" "$c" "$tps" "$ptps" "$utps" "$wtps" \
      "$its" "$p50" "$p99" "$p999"
    echo "$c $tps $ptps $utps $wtps $its" >> "$work/pinned.txt"
  done
  local all
  all=$(awk '{ for (i = 2; i <= 6; i++) if ($i > m[i]) m[i] = $i } END { print m[2], m[3], m[4], m[5], m[6] }' \
    "$work/pinned.txt")
  read -r tps ptps utps wtps its <<<"$all"
  echo "warden's best: $its iterations/s = $(ratio "$its" "$tps")x the one-statement bound ($tps), $(ratio "$its" "$ptps")x the simplified pipelined one ($ptps), $(ratio "$its" "$utps")x warden's statements one per round trip ($utps), $(ratio "$its" "$wtps")x warden's statements pipelined ($wtps)"
  for pid in $postmaster $(pgrep -P "$postmaster"); do taskset -p -c "0-$(( $(nproc) - 1 ))" "$pid" >/dev/null; done
  taskset -a -p -c "0-$(( $(nproc) - 1 ))" "$control_pid" >/dev/null
  client_cpus=""
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
if [ "$(nproc)" -lt 2 ]; then
  echo "== skipped: PostgreSQL on a core of its own needs 2 cores, this machine has $(nproc)"
elif [ "$only" = pinned ]; then
  compare_pinned
  exit 0
fi

# The pipelined script with the wake-ups inside its transactions, as warden
# sent them until 2026-12: a NOTIFY per kill queued by the admission, one
# per settled kill in the close. (Any NOTIFY takes the database-wide commit
# lock, whether anyone listens or not.)
notify_sql=$work/admission_pipelined_notify.pgbench.sql
sed -e "s/^SELECT c.id::text, k.session_id::text, k.node_id::text, k.id FROM created c LEFT JOIN kills k ON true;$/SELECT c.id::text, k.session_id::text, k.node_id::text, k.id, CASE WHEN k.id IS NOT NULL THEN pg_notify('warden_commands', k.node_id::text) END FROM created c LEFT JOIN kills k ON true;/" \
    -e "s/^SELECT id::text FROM closed;$/SELECT id::text, pg_notify('warden_acks', id::text) FROM closed;/" \
    "$new_sql" > "$notify_sql"
if ! grep -q warden_commands "$notify_sql" || ! grep -q warden_acks "$notify_sql"; then
  echo "cannot derive the NOTIFY form of $new_sql" >&2
  exit 1
fi
echo "== pgbench: NOTIFY inside the transaction or not (pipelined script), ${secs}s per point, alternating"
echo "clients    without: iterations/s  p50_ms  p99_ms     with NOTIFY: iterations/s  p50_ms  p99_ms"
for c in 16 64; do
  for round in 1 2; do
    read -r tps p50 p99 < <(run_pgbench "$new_sql" "$c")
    read -r ntps np50 np99 < <(run_pgbench "$notify_sql" "$c")
    printf "%-10s %-22s %-7s %-10s %-25s %-7s %s\n" "$c" "$tps" "$p50" "$p99" "$ntps" "$np50" "$np99"
  done
done
[ "$only" = notify ] && exit 0
echo

echo "== pgbench: the same SQL (admit with eviction + close), ${secs}s per point"
echo "           one statement per round trip   pipelined, simplified           warden's, one per round trip    warden's statements, pipelined"
echo "clients    iterations/s  p50_ms  p99_ms     iterations/s  p50_ms  p99_ms     iterations/s  p50_ms  p99_ms     iterations/s  p50_ms  p99_ms"
for c in $levels; do
  read -r tps p50 p99 < <(run_pgbench "$old_sql" "$c")
  read -r ptps pp50 pp99 < <(run_pgbench "$new_sql" "$c")
  read -r utps up50 up99 < <(run_pgbench "$unpipelined_sql" "$c")
  read -r wtps wp50 wp99 < <(run_pgbench "$warden_sql" "$c")
  printf "%-10s %-13s %-7s %-10s %-13s %-7s %-10s %-13s %-7s %-10s %-13s %-7s %s\n" "$c" "$tps" \
    "$p50" "$p99" "$ptps" "$pp50" "$pp99" "$utps" "$up50" "$up99" "$wtps" "$wp50" "$wp99"
  echo "$c $tps $ptps $wtps $utps" >> "$work/pgbench.txt"
done

echo
echo "== warden: Admit + CloseSession through gRPC, ${secs}s per point"
"$load" --target "$addr" --node-credential "$credential" --users "$users" \
  --concurrency "${levels// /,}" --duration "$secs" | tee "$work/warden.txt"
best=$(awk 'NR > 1 && $4 > max {max = $4} END {print max}' "$work/warden.txt")
old_best=$(awk '$2 > max {max = $2} END {print max}' "$work/pgbench.txt")
new_best=$(awk '$3 > max {max = $3} END {print max}' "$work/pgbench.txt")
warden_best=$(awk '$4 > max {max = $4} END {print max}' "$work/pgbench.txt")
unpipelined_best=$(awk '$5 > max {max = $5} END {print max}' "$work/pgbench.txt")
echo
echo "warden's best: $best iterations/s = $(ratio "$best" "$old_best")x the one-statement-per-round-trip bound ($old_best), $(ratio "$best" "$new_best")x the simplified pipelined bound ($new_best), $(ratio "$best" "$unpipelined_best")x warden's statements one per round trip ($unpipelined_best), $(ratio "$best" "$warden_best")x warden's statements pipelined ($warden_best)"
echo
[ "$(nproc)" -ge 2 ] && compare_pinned
half=$(( ${best%.*} / 2 ))
echo
echo "== warden at half its best throughput ($half iterations/s, 8 workers, open loop)"
"$load" --target "$addr" --node-credential "$credential" --users "$users" \
  --concurrency 8 --rate "$half" --duration "$secs"
read -r tps p50 p99 < <(run_pgbench "$old_sql" 8 -R "$half")
echo "pgbench, one statement per round trip, at the same rate (-R $half, 8 clients, latency includes schedule lag): $tps iterations/s, p50 $p50 ms, p99 $p99 ms"
read -r tps p50 p99 < <(run_pgbench "$new_sql" 8 -R "$half")
echo "pgbench, pipelined, at the same rate (-R $half, 8 clients, latency includes schedule lag): $tps iterations/s, p50 $p50 ms, p99 $p99 ms"
read -r tps p50 p99 < <(run_pgbench "$warden_sql" 8 -R "$half")
echo "pgbench, warden's statements, at the same rate (-R $half, 8 clients, latency includes schedule lag): $tps iterations/s, p50 $p50 ms, p99 $p99 ms"

echo
echo "== warden with 10^6 closed and 10^5 live sessions of other users in the database"
psql_w <<SQL >/dev/null
INSERT INTO users (username, max_connections)
  SELECT 'filler' || g, 3 FROM generate_series(1, 50000) g;
INSERT INTO sessions (user_id, node_id, protocol, session_key, state, opened_at, closed_at, close_reason)
  SELECT u.id, '$node', 'wireguard', 'filler:closed:' || g, 'closed',
         now() - interval '2 days', now() - interval '1 day', 'closed'
    FROM generate_series(1, 1000000) g
    JOIN LATERAL (SELECT id FROM users WHERE username = 'filler' || (1 + g % 50000)) u ON true;
INSERT INTO sessions (user_id, node_id, protocol, session_key, state)
  SELECT u.id, '$node', 'wireguard', 'filler:live:' || g, 'active'
    FROM generate_series(1, 100000) g
    JOIN LATERAL (SELECT id FROM users WHERE username = 'filler' || (1 + g % 50000)) u ON true;
VACUUM ANALYZE;
SQL
psql_w -c "SELECT state, count(*) FROM sessions GROUP BY state ORDER BY state"
best_level=$(awk 'NR > 1 && $4 > max {max = $4; level = $1} END {print level}' "$work/warden.txt")
"$load" --target "$addr" --node-credential "$credential" --users "$users" \
  --concurrency "$best_level" --duration "$secs"

echo
echo "== password path: argon2id at the default cost (2 passes, 64 MiB), $(nproc) cores"
"$load" --target "$addr" --admin-key "$key" --users 200 --user-prefix pw --seed-sessions 0 \
  --password --setup >/dev/null
"$load" --target "$addr" --node-credential "$credential" --users 200 --user-prefix pw \
  --password --concurrency 4,8 --duration "$secs"
