# Starting a warden-control for a benchmark. Source it; needs $work (a
# private directory), $url (the database) and $key (the admin key).

# bench_start_control BINARY [flags...]: starts it on a free port, its log in
# $work/control.log; sets control_pid and addr (127.0.0.1:port), or prints
# the log and exits when it does not come up within 30 s.
bench_start_control() {
  local binary=$1; shift
  : >"$work/control.log"
  WARDEN_ADMIN_KEY=$key "$binary" --listen 127.0.0.1:0 --insecure --database-url "$url" "$@" \
    >"$work/control.out" 2>"$work/control.log" &
  control_pid=$!
  addr=""
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*serving on \(.*\) (port \([0-9]*\)).*/127.0.0.1:\2/p' "$work/control.log" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/control.log"; exit 1; }
}
