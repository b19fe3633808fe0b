#!/usr/bin/env bash
# grpcurl-compat against a throwaway server (echo_test.proto + reflection + health): the command
# lines an operator types, checked for grpcurl's output and exit codes.
# usage: grpcurl_test.sh GRPCURL_COMPAT TEST_SERVER
set -euo pipefail
grpcurl=$1 server_bin=$2

work=$(mktemp -d /tmp/grpcurl-test.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

out="" err="" code=0
fail() {
  printf 'FAIL: %s\n--- exit code: %s\n--- stdout:\n%s\n--- stderr:\n%s\n' \
    "$*" "$code" "$out" "$err" >&2
  exit 1
}
check() { echo "ok: $*"; }

# start_server NAME [SERVER ARGS...]: starts a test server; sets $port.
start_server() {
  local name=$1
  shift
  "$server_bin" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  port=""
  for _ in $(seq 1 200); do
    port=$(head -n 1 "$work/$name.out")
    [ -n "$port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || fail "$name server exited: $(cat "$work/$name.log")"
    sleep 0.05
  done
  fail "$name server did not report its port"
}

# run ARGS...: runs grpcurl-compat (stdin from $stdin, empty by default); sets out, err, code.
stdin=/dev/null
run() {
  set +e
  "$grpcurl" "$@" <"$stdin" >"$work/stdout" 2>"$work/stderr"
  code=$?
  set -e
  out=$(cat "$work/stdout")
  err=$(cat "$work/stderr")
}
expect_code() { [ "$code" -eq "$1" ] || fail "want exit $1"; }
expect_out() { grep -qxF -- "$1" <<<"$out" || fail "stdout lacks the line: $1"; }
expect_err() { grep -qF -- "$1" <<<"$err" || fail "stderr lacks: $1"; }

start_server plain
addr="127.0.0.1:$port"
svc=warden.grpcurltest.v1.EchoService

echo "# list"
run -plaintext "$addr" list
expect_code 0
services=(grpc.health.v1.Health grpc.reflection.v1alpha.ServerReflection "$svc")
[ "$out" = "$(printf '%s\n' "${services[@]}")" ] ||
  fail "services, one per line and sorted"
check "list: the echo, reflection and health services, sorted"

run -plaintext "$addr" list $svc
expect_code 0
[ "$out" = "$(printf "$svc.%s\n" Collect Echo StreamEcho)" ] || fail "methods"
check "list SERVICE: Service.Method per line"

echo "# describe"
run -plaintext "$addr" describe warden.grpcurltest.v1.EchoRequest
expect_code 0
expect_out "warden.grpcurltest.v1.EchoRequest is a message:"
expect_out "  int64 big_number = 2;"
expect_out "  .google.protobuf.Timestamp created_at = 6;"
check "describe a message"

run -plaintext "$addr" describe $svc
expect_code 0
expect_out "$svc is a service:"
grep -qF "rpc StreamEcho(.warden.grpcurltest.v1.StreamRequest) returns (stream " <<<"$out" ||
  fail "StreamEcho signature"
check "describe a service"

run -plaintext "$addr" describe
expect_code 0
expect_out "grpc.health.v1.Health is a service:"
expect_out "$svc is a service:"
check "describe with no symbol describes every service (health from the compiled-in copy)"

echo "# unary calls"
request='{"messageText":"hi","big_number":"9007199254740993","color":"COLOR_RED",
  "inner":{"label":"x","weight":3},"tags":["a","b"],
  "createdAt":"2026-01-01T00:00:00Z","updateMask":"maxConnections,limitPolicy"}'
run -plaintext -d "$request" "$addr" $svc/Echo
expect_code 0
expect_out '  "echo": {'
expect_out '    "messageText": "hi",'
expect_out '    "bigNumber": "9007199254740993",'
expect_out '    "color": "COLOR_RED",'
expect_out '      "weight": 3'
expect_out '      "b"'
expect_out '    "createdAt": "2026-01-01T00:00:00Z",'
expect_out '    "updateMask": "maxConnections,limitPolicy"'
check "canonical JSON both ways (int64 string, enum name, Timestamp, FieldMask), lowerCamel keys," \
  "2-space indent"

run -plaintext -d '{"bigNumber":42}' "$addr" $svc.Echo
expect_code 0
expect_out '    "bigNumber": "42"'
check "Service.Method spelling; int64 given as a number comes back as a string"

run -plaintext "$addr" $svc/Echo
expect_code 0
[ "$out" = "$(printf '{\n  "echo": {}\n}')" ] || fail "empty request"
run -plaintext -emit-defaults "$addr" $svc/Echo
expect_out '    "bigNumber": "0",'
expect_out '    "color": "COLOR_UNSPECIFIED",'
check "no -d sends {}; -emit-defaults prints zero values"

run -plaintext -H 'Authorization: Bearer abc' "$addr" $svc/Echo
expect_code 0
expect_out '  "authorization": "Bearer abc"'
run -plaintext -rpc-header 'authorization: Bearer rpc' "$addr" $svc/Echo
expect_out '  "authorization": "Bearer rpc"'
check "-H and -rpc-header reach the server (name lowercased)"

printf '%s\n' '{"message_text": "from stdin"}' >"$work/request.json"
stdin="$work/request.json" run -plaintext -d @ "$addr" $svc/Echo
expect_code 0
expect_out '    "messageText": "from stdin"'
check "-d @ reads the request from stdin"

run -plaintext -d '{"service":""}' "$addr" grpc.health.v1.Health/Check
expect_code 0
expect_out '  "status": "SERVING"'
check "grpc.health.v1.Health/Check is SERVING"

echo "# server streaming"
run -plaintext -d '{"count":3,"prefix":"event-"}' "$addr" $svc/StreamEcho
expect_code 0
[ "$(grep -c '"text": "event-' <<<"$out")" -eq 3 ] || fail "want 3 messages"
expect_out '  "text": "event-2"'
check "a server-streaming call prints each of its 3 messages"

# The deadline covers the dial and reflection too, so it leaves room for a slow (sanitized) run.
run -plaintext -max-time 1.5 -d '{"count":100,"intervalMs":100}' "$addr" $svc/StreamEcho
expect_code 68
expect_err "Code: DeadlineExceeded"
[ "$(grep -c '"text"' <<<"$out")" -ge 2 ] || fail "messages before the deadline were not printed"
check "-max-time ends a long stream: messages so far printed, DeadlineExceeded, exit 68"

echo "# errors"
run -plaintext -d '{"messageText":"missing"}' "$addr" $svc/Echo
expect_code 69
[ "$err" = "$(printf 'ERROR:\n  Code: NotFound\n  Message: message missing not found')" ] ||
  fail "error block"
check "a NOT_FOUND status: grpcurl's ERROR block on stderr, exit 64+5"

run -plaintext -d '{"count":-1}' "$addr" $svc/StreamEcho
expect_code 67
expect_err "Code: InvalidArgument"
check "an error status ending a stream: exit 64+3"

run -plaintext -d '{"messageText": "unterminated' "$addr" $svc/Echo
expect_code 1
expect_err "Error invoking method \"$svc/Echo\": error getting request data:"
run -plaintext -d '{"noSuchField":1}' "$addr" $svc/Echo
expect_code 1
expect_err "error getting request data: noSuchField"
run -plaintext -d '{"color":"PURPLE"}' "$addr" $svc/Echo
expect_code 1
expect_err "PURPLE"
run -plaintext -d '{} {}' "$addr" $svc/Echo
expect_code 1
expect_err "is a unary RPC, but request data contained more than 1 message"
check "bad request JSON (syntax, unknown field, unknown enum, two messages): exit 1 with the reason"

run -plaintext "$addr" $svc/NoSuchMethod
expect_code 1
expect_err "service \"$svc\" does not include a method named \"NoSuchMethod\""
run -plaintext "$addr" warden.grpcurltest.v1.NoSuchService/Echo
expect_code 1
expect_err "target server does not expose service \"warden.grpcurltest.v1.NoSuchService\""
run -plaintext "$addr" describe warden.grpcurltest.v1.Nothing
expect_code 1
expect_err "Symbol not found: warden.grpcurltest.v1.Nothing"
check "unknown method, service or symbol: exit 1"

run -plaintext "$addr" $svc/Collect
expect_code 1
expect_err "client-streaming"
check "client streaming is refused with a clear message"

run -plaintext 127.0.0.1:1 list
expect_code 1
expect_err 'Failed to dial target host "127.0.0.1:1"'
expect_err "Connection refused"
run "$addr" list
expect_code 1
expect_err "Failed to dial target host"
check "connection refused, or TLS to a plaintext server: exit 1, and why"

run -plaintext -format text "$addr" list
expect_code 2
run -plaintext "$addr"
expect_code 2
expect_err "Too few arguments."
run -no-such-flag "$addr" list
expect_code 2
expect_err "flag provided but not defined: -no-such-flag"
run -help
expect_code 0
expect_out "Available flags:"
check "usage errors exit 2, as grpcurl's do; -help exits 0"

echo "# TLS"
if ! command -v openssl >/dev/null 2>&1; then
  echo "skip: openssl not installed"
  exit 0
fi
tls=$work/tls
mkdir "$tls"
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${newkey[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 1 \
  -subj /CN=grpcurl-test-ca 2>/dev/null
for who in server client; do
  openssl req "${newkey[@]}" -keyout "$tls/$who.key" -out "$tls/$who.csr" -subj "/CN=$who" \
    2>/dev/null
done
printf 'subjectAltName=DNS:warden-test\n' >"$tls/server.ext"
printf 'extendedKeyUsage=clientAuth\n' >"$tls/client.ext"
for who in server client; do
  openssl x509 -req -in "$tls/$who.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -out "$tls/$who.pem" -days 1 -extfile "$tls/$who.ext" 2>/dev/null
done

start_server tls --tls "$tls/server.pem" "$tls/server.key"
tls_addr="127.0.0.1:$port"
start_server mtls --tls "$tls/server.pem" "$tls/server.key" --client-ca "$tls/ca.pem"
mtls_addr="127.0.0.1:$port"

run "$tls_addr" list
expect_code 1
expect_err "certificate verify failed"
run -cacert "$tls/ca.pem" "$tls_addr" list
expect_code 1
expect_err "Peer name 127.0.0.1 is not in peer certificate"
check "TLS verifies the chain and the name by default"

run -cacert "$tls/ca.pem" -servername warden-test "$tls_addr" list
expect_code 0
expect_out $svc
run -cacert "$tls/ca.pem" -authority warden-test -d '{"messageText":"over tls"}' \
  "$tls_addr" $svc/Echo
expect_code 0
expect_out '    "messageText": "over tls"'
check "-cacert with -servername or -authority"

run -insecure -d '{"count":2}' "$tls_addr" $svc/StreamEcho
expect_code 0
expect_out '  "text": "1"'
check "-insecure skips verification"

run -cacert "$tls/ca.pem" -servername warden-test "$mtls_addr" list
expect_code 1
run -cacert "$tls/ca.pem" -servername warden-test -cert "$tls/client.pem" -key "$tls/client.key" \
  "$mtls_addr" list
expect_code 0
expect_out $svc
run -insecure -cert "$tls/client.pem" -key "$tls/client.key" "$mtls_addr" list
expect_code 0
check "mutual TLS with -cert/-key (verified and -insecure)"

run -plaintext -insecure "$addr" list
expect_code 2
run -cert "$tls/client.pem" "$tls_addr" list
expect_code 2
run -cacert "$tls/nope.pem" "$tls_addr" list
expect_code 1
expect_err "Failed to create TLS config: open $tls/nope.pem"
check "bad TLS flag combinations exit 2; an unreadable file exits 1"

echo "PASS"
