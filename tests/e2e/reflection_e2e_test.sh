#!/usr/bin/env bash
# The real warden-control binary, driven only through server reflection with
# JSON, as an operator with grpcurl would.
# usage: reflection_e2e_test.sh WARDEN_CONTROL GRPCURL PG_ENV_FILE
set -euo pipefail
control_bin=$1 grpcurl=$2 pg_env=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lib/postgres.sh
source "$here/../../scripts/lib/postgres.sh"
# shellcheck disable=SC1090
source "$pg_env"

work=$(mktemp -d /tmp/warden-e2e.XXXXXX)
db="e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
control_pid=""
cleanup() {
  [ -n "$control_pid" ] && kill "$control_pid" 2>/dev/null && wait "$control_pid" 2>/dev/null
  "$(pg_bindir)/psql" -h "$WARDEN_TEST_PG_DIR/sock" -p "$WARDEN_TEST_PG_PORT" -U postgres -qAt \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- warden-control log:" >&2; cat "$work/control.log" >&2; exit 1; }
check() { echo "ok: $*"; }

"$(pg_bindir)/psql" -h "$WARDEN_TEST_PG_DIR/sock" -p "$WARDEN_TEST_PG_PORT" -U postgres -qAt \
  -c "CREATE DATABASE $db" >/dev/null
key="wak_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

WARDEN_ADMIN_KEY=$key WARDEN_ARGON2_MEMORY_KIB=1024 WARDEN_ARGON2_OPS=1 "$control_bin" \
  --listen 127.0.0.1:0 --insecure \
  --database-url "postgresql://postgres@127.0.0.1:$WARDEN_TEST_PG_PORT/$db" \
  >"$work/control.log" 2>&1 &
control_pid=$!
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*serving on .* (port \([0-9]*\)).*/\1/p' "$work/control.log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$control_pid" 2>/dev/null || fail "warden-control exited early"
  sleep 0.05
done
[ -n "${port:-}" ] || fail "warden-control did not report its port"
addr="127.0.0.1:$port"
auth=(-H "authorization: Bearer $key")

services=$("$grpcurl" -plaintext "$addr" list)
for service in warden.v1.AdminService grpc.health.v1.Health grpc.reflection.v1alpha.ServerReflection; do
  grep -qx "$service" <<<"$services" || fail "list lacks $service: $services"
done
check "reflection lists the services (no key needed)"

"$grpcurl" -plaintext "$addr" list warden.v1.AdminService | grep -qx 'warden.v1.AdminService.CreateUser' \
  || fail "CreateUser not listed"
check "reflection lists the methods"

health=$("$grpcurl" -plaintext -d '{"service":""}' "$addr" grpc.health.v1.Health/Check)
grep -q '"status": "SERVING"' <<<"$health" || fail "health: $health"
check "health is SERVING"

created=$("$grpcurl" -plaintext "${auth[@]}" -d '{"user":{"username":"Alice","password":"correct horse","maxConnections":3,"limitPolicy":"REJECT"}}' \
  "$addr" warden.v1.AdminService/CreateUser) || fail "CreateUser failed"
grep -q '"username": "alice"' <<<"$created" || fail "created: $created"
grep -q '"limitPolicy": "REJECT"' <<<"$created" || fail "created: $created"
id=$(sed -n 's/.*"id": "\([0-9a-f-]*\)".*/\1/p' <<<"$created")
[ ${#id} -eq 36 ] || fail "no id in: $created"
check "CreateUser with canonical JSON"

fetched=$("$grpcurl" -plaintext "${auth[@]}" -d '{"username":"alice"}' "$addr" warden.v1.AdminService/GetUser)
grep -q "\"id\": \"$id\"" <<<"$fetched" || fail "GetUser: $fetched"
grep -q '"maxConnections": 3' <<<"$fetched" || fail "GetUser: $fetched"
check "GetUser reads it back"

updated=$("$grpcurl" -plaintext "${auth[@]}" -d "{\"user\":{\"id\":\"$id\",\"maxConnections\":5},\"updateMask\":\"maxConnections\"}" \
  "$addr" warden.v1.AdminService/UpdateUser)
grep -q '"maxConnections": 5' <<<"$updated" || fail "UpdateUser: $updated"
check "UpdateUser with a FieldMask"

set +e
dup=$("$grpcurl" -plaintext "${auth[@]}" -d '{"user":{"username":"alice"}}' "$addr" warden.v1.AdminService/CreateUser 2>&1)
code=$?
set -e
[ "$code" -eq 70 ] && grep -q 'AlreadyExists' <<<"$dup" || fail "duplicate: exit $code: $dup"
check "a duplicate is ALREADY_EXISTS"

set +e
anon=$("$grpcurl" -plaintext -d '{}' "$addr" warden.v1.AdminService/ListUsers 2>&1)
code=$?
set -e
[ "$code" -eq 80 ] && grep -q 'Unauthenticated' <<<"$anon" || fail "no key: exit $code: $anon"
check "a call without a key is UNAUTHENTICATED"

kill -TERM "$control_pid"
wait "$control_pid" || fail "warden-control did not exit cleanly on SIGTERM"
control_pid=""
grep -q "stopped" "$work/control.log" || fail "no clean stop in the log"
grep -q "$key" "$work/control.log" && fail "the admin key appeared in the log"
check "clean shutdown on SIGTERM; no secret in the log"
