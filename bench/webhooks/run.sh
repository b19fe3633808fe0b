#!/usr/bin/env bash
# Webhook delivery benchmark, against the receiver the tests use (Node, the
# npm standardwebhooks package verifying every message):
#   1. sustained deliveries per second: a backlog of events queued at once,
#      drained to the receiver;
#   2. commit-to-receiver latency at a steady event rate (pgbench commits
#      the events; the receiver's clock against the event's timestamp);
#   3. admission throughput with no webhook, with one subscribed to
#      "session.", and with none again, in the same run;
#   4. admission latency at a steady rate, with and without it.
#   bench/webhooks/run.sh [BACKLOG] [RATE] [SECONDS] [PACED]   (default 20000 100 30 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh
source bench/lib/control.sh
source bench/lib/database.sh
backlog=${1:-20000}
rate=${2:-100}
secs=${3:-30}
paced=${4:-300}
users=10000

build=${WARDEN_BENCH_BUILD:-build/bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=ON >/dev/null
ninja -C "$build" warden-control admission_load grpcurl-compat >/dev/null
[ -d tests/e2e/webhook_receiver/node_modules ] ||
  npm ci --prefix tests/e2e/webhook_receiver --no-audit --no-fund --loglevel=error
load=$build/bench/admission_load
grpcurl=$build/tools/grpcurl/grpcurl-compat
pgbench=$(pg_bindir)/pgbench

bench_start_database
psql_w() { pg_psql "$work" -d warden -qAt "$@"; }
openssl rand -hex 32 >"$work/webhook.key"
bench_start_control "$build"/controlplane/warden-control --db-pool-size 4 \
  --webhook-key-file "$work/webhook.key" --webhook-allow-private-targets

nice -n 19 node tests/e2e/webhook_receiver/receiver.mjs --port 0 --secret-file "$work/secrets" \
  >"$work/receiver.out" 2>&1 &
bench_pids=$!
for _ in $(seq 1 100); do grep -q '^listening' "$work/receiver.out" && break; sleep 0.1; done
receiver_port=$(awk '/^listening/ {print $2}' "$work/receiver.out")

admin() { "$grpcurl" -plaintext -H "authorization: Bearer $key" -d "$2" "$addr" "warden.v1.AdminService/$1"; }
create_webhook() { # TYPES_JSON -> webhook id; the secret goes to the receiver
  local out
  out=$(admin CreateWebhook "{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"event_types\":$1}")
  sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' <<<"$out" >>"$work/secrets"
  sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$out" | head -1
}
delivered() { psql_w -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"; }
verified_report() { # the receiver's view: messages, verified, unique ids
  curl -s "127.0.0.1:$receiver_port/messages" | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const m = JSON.parse(s);
      const ids = new Set(m.map((x) => x.id));
      console.log(`${m.length} received, ${m.filter((x) => x.verified).length} verified, ${ids.size} distinct ids`);
    });'
}

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}'), fsync on; PostgreSQL, warden-control (16 senders, 8 per endpoint) and the Node receiver on this one machine"

echo
echo "== 1. sustained delivery: $backlog events queued in one transaction, drained to one endpoint"
create_webhook '["user."]' >/dev/null
start=$(date +%s.%N)
psql_w -c "INSERT INTO audit_events (actor, action, subject, details)
  SELECT 'bench', 'user.create', 'user:' || gen_random_uuid(), jsonb_build_object('username', 'u' || g)
  FROM generate_series(1, $backlog) g" >/dev/null
while [ "$(delivered)" -lt "$backlog" ]; do sleep 0.1; done
end=$(date +%s.%N)
awk -v n="$backlog" -v s="$start" -v e="$end" \
  'BEGIN {printf "%d delivered in %.1f s: %.0f deliveries/s\n", n, e - s, n / (e - s)}'
verified_report

echo
echo "== 2. latency from commit to the receiver at $rate events/s for ${secs}s (pgbench commits them)"
curl -s -X POST -d '{"reset": true}' "127.0.0.1:$receiver_port/control" >/dev/null
cat >"$work/event.sql" <<'SQL'
INSERT INTO audit_events (actor, action, subject, details)
  VALUES ('bench', 'user.create', 'user:' || gen_random_uuid(), '{"username": "paced"}');
SQL
"$pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c 2 -j 2 -R "$rate" -T "$secs" \
  -f "$work/event.sql" warden >/dev/null 2>&1
sleep 2
curl -s "127.0.0.1:$receiver_port/messages" | node -e '
  let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
    const lat = JSON.parse(s).map((m) => m.received_at_ms - Date.parse(m.body.timestamp)).sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
    console.log(`${lat.length} events: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${lat[lat.length - 1]} ms`);
  });'
verified_report

echo
echo "== 3. admission (Admit with eviction + CloseSession, 16 workers, ${secs}s each)"
setup=$("$load" --target "$addr" --admin-key "$key" --users "$users" --setup)
credential=$(sed -n 's/^node_credential=//p' <<<"$setup")
psql_w -c "DELETE FROM webhooks" >/dev/null
# compare RUN...: the load without a webhook, with one on "session.", and
# what the webhook delivered meanwhile; it is deleted again afterwards.
compare() {
  local before
  echo "no webhook:                   $("$@")"
  create_webhook '["session."]' >/dev/null
  before=$(delivered)
  echo "one webhook on \"session.\":    $("$@")"
  sleep 3
  echo "   events delivered meanwhile: $(( $(delivered) - before )), still pending: $(psql_w -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")"
  psql_w -c "DELETE FROM webhooks" >/dev/null
}
admission() { "$load" --target "$addr" --node-credential "$credential" --users "$users" \
  --concurrency "$1" --duration "$secs" "${@:2}" | tail -1; }
compare admission 16
echo "no webhook again:             $(admission 16)"
echo
echo "== 4. admission at a steady ${paced}/s (8 workers, open loop), ${secs}s each"
compare admission 8 --rate "$paced"
echo "(columns: concurrency, rate, iterations, iterations/s, Admit p50/p99/p999 ms, denied, errors)"
