# Starting a warden-control for a benchmark. Source it; needs $work (a
# private directory), $url (the database) and $key (the admin key).

# bench_start_named NAME BINARY [flags...]: starts it on a free port, its log
# in $work/NAME.log, its pid added to $bench_pids (stopped on exit); sets
# started_pid and addr (127.0.0.1:port), or prints the log and exits when it
# does not come up within 30 s.
bench_start_named() {
  local name=$1 binary=$2; shift 2
  : >"$work/$name.log"
  WARDEN_ADMIN_KEY=$key "$binary" --listen 127.0.0.1:0 --insecure --database-url "$url" "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  started_pid=$!
  bench_pids="${bench_pids:-} $started_pid"
  addr=""
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*serving on \(.*\) (port \([0-9]*\)).*/127.0.0.1:\2/p' "$work/$name.log" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/$name.log"; exit 1; }
}

# bench_start_control BINARY [flags...]: one warden-control, its log in
# $work/control.log; sets control_pid and addr.
bench_start_control() {
  bench_start_named control "$@"
  control_pid=$started_pid
}
