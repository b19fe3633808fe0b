#!/usr/bin/env bash
# A three-member PostgreSQL 15 cluster managed by Patroni (synchronous mode),
# with one etcd member, all on 127.0.0.1: the rig of the high-availability
# tests. Patroni 3.0 and etcd 3.4 from Debian speak the etcd v2 API, hence
# --enable-v2. PostgreSQL refuses to run as root, so as root everything runs
# as the unprivileged user warden-ha.
#
# Failover timing: ttl 10, loop_wait 1, retry_timeout 4 (Patroni wants
# loop_wait + 2 * retry_timeout <= ttl). A lost leader's lock expires after at
# most ttl, so a crash costs about 10 s of writes instead of the ~30 s of
# Patroni's defaults; a shorter ttl would fail over on a busy host's hiccups.
#
#   patroni_rig.sh DIR start        # prints the multi-host URL when all three run
#   patroni_rig.sh DIR url | leader | status
#   patroni_rig.sh DIR healthy      # waits for three members with a synchronous standby
#   patroni_rig.sh DIR kill-leader  # node loss: Patroni and postmaster SIGKILLed
#   patroni_rig.sh DIR switchover   # planned: patronictl switchover
#   patroni_rig.sh DIR freeze-leader | thaw  # the primary's PostgreSQL SIGSTOPped / SIGCONTed
#   patroni_rig.sh DIR stop         # stops everything, removes DIR
set -euo pipefail
RIG=${1:?usage: patroni_rig.sh DIR COMMAND}
COMMAND=${2:?usage: patroni_rig.sh DIR COMMAND}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PORTS=(15433 15434 15435)
REST=(18008 18009 18010)
ETCD_CLIENT=12379
ETCD_PEER=12380
USER_NAME=warden-ha

as() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$USER_NAME" -- "$@"; else "$@"; fi
}
ctl() { as patronictl -c "$RIG/pg1.yml" "$@"; }
# The cluster as any member's REST API sees it (cheaper than patronictl).
members() {
  local port
  for port in "${REST[@]}"; do
    curl -sf --max-time 2 "http://127.0.0.1:$port/cluster" && return 0
  done
  return 1
}

config() { # index
  local i=$1 name=pg$(($1 + 1))
  cat > "$RIG/$name.yml" <<YML
scope: warden
name: $name
restapi: {listen: 127.0.0.1:${REST[$i]}, connect_address: 127.0.0.1:${REST[$i]}}
etcd: {host: 127.0.0.1:$ETCD_CLIENT}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters: {max_connections: 200, wal_level: replica, hot_standby: "on",
                   max_wal_senders: 10, max_replication_slots: 10}
  initdb: [{encoding: UTF8}, {auth-local: trust}]
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${PORTS[$i]}
  connect_address: 127.0.0.1:${PORTS[$i]}
  data_dir: $RIG/$name
  bin_dir: $BIN
  pgpass: $RIG/pgpass-$name
  authentication:
    superuser: {username: postgres, password: rig}
    replication: {username: replicator, password: rig}
  parameters: {unix_socket_directories: "$RIG"}
YML
}

url() {
  echo "postgresql://postgres@127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}/postgres?target_session_attrs=read-write"
}
leader() {
  members | python3 -c 'import json,sys; print(next(m["name"] for m in json.load(sys.stdin)["members"] if m["role"]=="leader"))'
}
running() {
  members | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin)["members"] if m["state"] in ("running","streaming")))' 2>/dev/null || echo 0
}
# A leader, a synchronous standby that has caught up, and a third member
# running: only then can the leader fail without losing the cluster's writes.
healthy() {
  members | python3 -c '
import json, sys
members = json.load(sys.stdin)["members"]
roles = [m["role"] for m in members if m["state"] in ("running", "streaming")]
sync = [m for m in members if m["role"] == "sync_standby" and m.get("lag", 1) == 0]
sys.exit(0 if len(roles) == 3 and "leader" in roles and sync else 1)' 2>/dev/null
}
wait_healthy() { # seconds
  for _ in $(seq $(($1 * 4))); do healthy && return 0; sleep 0.25; done
  ctl list >&2 || true
  return 1
}
background() { # name command...: started in RIG, pid in RIG/name.pid
  local name=$1; shift
  as bash -c 'cd "$1" && shift && { nohup "$@" > "$0.log" 2>&1 & echo $! > "$0.pid"; }' \
    "$RIG/$name" "$RIG" "$@"
}

case "$COMMAND" in
start)
  if [ "$(id -u)" = 0 ] && ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$USER_NAME"
  fi
  mkdir -p "$RIG"; chmod 700 "$RIG"
  [ "$(id -u)" = 0 ] && chown "$USER_NAME" "$RIG"
  background etcd etcd --name e1 --data-dir "$RIG/etcd" --enable-v2=true \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "e1=http://127.0.0.1:$ETCD_PEER"
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ETCD_CLIENT/version" >/dev/null && break; sleep 0.2
  done
  for i in 0 1 2; do
    config "$i"
    [ "$(id -u)" = 0 ] && chown "$USER_NAME" "$RIG/pg$((i + 1)).yml"
    background "patroni$((i + 1))" patroni "$RIG/pg$((i + 1)).yml"
    # The first member bootstraps the cluster; the others clone it.
    if [ "$i" = 0 ]; then
      for _ in $(seq 60); do [ "$(running)" = 1 ] && break; sleep 0.5; done
    fi
  done
  wait_healthy 60 || { tail -20 "$RIG"/patroni*.log >&2; exit 1; }
  url
  ;;
url) url ;;
leader) leader ;;
status) ctl list ;;
healthy) wait_healthy 50 ;;
kill-leader)
  name=$(leader)
  kill -9 "$(cat "$RIG/patroni${name#pg}.pid")" "$(head -1 "$RIG/$name/postmaster.pid")"
  echo "$name"
  ;;
freeze-leader)  # the primary's host hangs: postmaster and backends SIGSTOPped, Patroni alive
  name=$(leader)
  pid=$(head -1 "$RIG/$name/postmaster.pid")
  # shellcheck disable=SC2046
  kill -STOP "$pid" $(pgrep -P "$pid")
  echo "$pid" > "$RIG/frozen.pid"
  echo "$name"
  ;;
thaw)
  pid=$(cat "$RIG/frozen.pid")
  # shellcheck disable=SC2046
  kill -CONT "$pid" $(pgrep -P "$pid")
  ;;
switchover)
  name=$(leader)
  ctl switchover --force --leader "$name" >/dev/null
  echo "$name"
  ;;
stop)
  # A frozen member is woken first, or it would outlive the rig.
  for f in "$RIG"/pg*/postmaster.pid; do
    # shellcheck disable=SC2046
    [ -f "$f" ] && kill -CONT "$(head -1 "$f")" $(pgrep -P "$(head -1 "$f")") 2>/dev/null || true
  done
  for f in "$RIG"/patroni*.pid "$RIG"/etcd.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for _ in $(seq 30); do
    pgrep -f "patroni $RIG/" >/dev/null || break; sleep 0.2
  done
  pkill -9 -f "patroni $RIG/" 2>/dev/null || true
  for f in "$RIG"/pg*/postmaster.pid; do
    [ -f "$f" ] && kill -9 "$(head -1 "$f")" 2>/dev/null || true
  done
  rm -rf "$RIG"
  ;;
*) echo "unknown command $COMMAND" >&2; exit 2 ;;
esac
