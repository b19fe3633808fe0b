#!/usr/bin/env bash
# Plans and limits: what the scoped rules cost.
#  1. Admission throughput, the same run: users under the plain fleet cap
#     against users whose plan adds a per-node cap, a per-region cap, a
#     protocol list and a node selector (all of them evaluated, none tighter
#     than the fleet cap, so both do the same work: an eviction per admit).
#  2. The policy sweep with 100,000 live sessions of which 1 % are due.
#   bench/policy/run.sh [SECONDS_PER_POINT] [sweep]   (default 20; "sweep": part 2 only)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
source bench/lib/control.sh
source bench/lib/database.sh
secs=${1:-20}
only=${2:-}
users=10000
workers=16

cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C build/bench warden-control admission_load policy_sweep_bench >/dev/null
load=build/bench/bench/admission_load

bench_start_database
psql_w() { pg_psql "$work" -d warden "$@"; }

bench_start_control build/bench/controlplane/warden-control --db-pool-size 4

echo "== machine"
echo "$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'), fsync on"
if [ "$only" != sweep ]; then
echo
echo "== setup: $users plain and $users scoped users, each at the limit of 3 live sessions"
plain=$("$load" --target "$addr" --admin-key "$key" --users "$users" --user-prefix plain --setup)
sleep 1  # node names carry the second
scoped=$("$load" --target "$addr" --admin-key "$key" --users "$users" --user-prefix scoped --setup)
plain_credential=$(sed -n 's/^node_credential=//p' <<<"$plain")
scoped_credential=$(sed -n 's/^node_credential=//p' <<<"$scoped")
scoped_node=$(sed -n 's/^node_id=//p' <<<"$scoped")
psql_w >/dev/null <<SQL
INSERT INTO plans (name, max_connections_per_node, label_caps, allowed_protocols, node_selector)
  VALUES ('scoped', 3, '[{"label": "region", "max": 3}]', '{wireguard,openvpn}',
          '{"region": ["eu-west", "eu-central"]}');
UPDATE users SET plan_id = (SELECT id FROM plans WHERE name = 'scoped') WHERE username LIKE 'scoped%';
UPDATE nodes SET labels = '{"region": "eu-west", "tier": "premium"}' WHERE id = '$scoped_node';
VACUUM ANALYZE;
SQL

echo
echo "== Admit (with an eviction) + CloseSession, $workers workers, ${secs}s per run, alternating"
echo "rules   round concurrency rate iterations iter/s p50_ms p99_ms p999_ms denied errors"
for round in 1 2 3; do
  for rules in plain scoped; do
    credential=${rules}_credential
    line=$("$load" --target "$addr" --node-credential "${!credential}" --users "$users" \
      --user-prefix "$rules" --concurrency "$workers" --duration "$secs" | tail -1)
    echo "$rules  $round    $line"
  done
done | tee "$work/admission.txt"
awk '{sum[$1] += $6; n[$1]++} END {
  printf "mean iterations/s: plain %.0f, scoped %.0f (scoped/plain %.3f)\n",
         sum["plain"] / n["plain"], sum["scoped"] / n["scoped"],
         (sum["scoped"] / n["scoped"]) / (sum["plain"] / n["plain"]) }' "$work/admission.txt"
fi

echo
echo "== the policy sweep: 100,000 live sessions, 1 % due"
build/bench/bench/policy_sweep_bench --database-url "$url" --sessions 100000 --due-percent 1
