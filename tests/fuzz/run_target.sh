#!/usr/bin/env bash
# run_target.sh BINARY CORPUS_DIR OUT_DIR [SECONDS]
# Runs one libFuzzer target for SECONDS (default $WARDEN_FUZZ_SECONDS, else 30),
# or until WARDEN_FUZZ_RUNS executions when that is set and comes first,
# on a copy of its committed corpus in OUT_DIR/corpus, so that new inputs never
# land in the repository, and prints one line:
#   <target> execs=N exec_per_s=N seconds=N cov=N ft=N corpus=N crashes=N
# Exits 1 on a crash, a leak, a timeout or a failed check, naming the input
# libFuzzer saved in OUT_DIR/crashes/.
set -euo pipefail
binary=$1 corpus=$2 out=$3
seconds=${4:-${WARDEN_FUZZ_SECONDS:-30}}
target=$(basename "$binary")

rm -rf "$out"
mkdir -p "$out/corpus" "$out/crashes"
cp "$corpus"/* "$out/corpus/"
options=()
[ -f "$corpus.dict" ] && options+=(-dict="$corpus.dict")
[ -n "${WARDEN_FUZZ_RUNS:-}" ] && options+=(-runs="$WARDEN_FUZZ_RUNS")

# No allocation stacks while fuzzing: recording one on every malloc costs a
# quarter of a target's time. The reproduce line below runs with ASan's
# defaults, which print them.
status=0
started=$(date +%s)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_context_size=0" \
  "$binary" "$out/corpus" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/crashes/" >"$out/log" 2>&1 || status=$?

stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$out/log" | tail -1; }
last=$(grep -E '^#[0-9]+.*cov: ' "$out/log" | tail -1 || true)
field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" <<<"$last"; }
crashes=$(find "$out/crashes" -type f | wc -l)
echo "$target execs=$(stat number_of_executed_units) exec_per_s=$(stat average_exec_per_sec)" \
  "seconds=$(($(date +%s) - started))" \
  "cov=$(field cov) ft=$(field ft) corpus=$(find "$out/corpus" -type f | wc -l) crashes=$crashes"

if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -E 'ERROR: |check failed|SUMMARY: |^==[0-9]+==' "$out/log" | head -20 >&2 || true
  for input in "$out"/crashes/*; do
    [ -f "$input" ] && echo "$target: failing input $input (reproduce: $binary $input)" >&2
  done
  echo "$target: exit status $status, log $out/log" >&2
  exit 1
fi
