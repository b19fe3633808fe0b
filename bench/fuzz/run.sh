#!/usr/bin/env bash
# bench/fuzz/run.sh [SECONDS_PER_TARGET]   (default 300)
# Configures and builds build/fuzz (clang, libFuzzer + ASan + UBSan; only the
# fuzz targets), runs each target of tests/fuzz for SECONDS on a copy of its
# committed corpus (new inputs go to a scratch directory, printed at the end),
# and prints a table: executions, exec/s, coverage, corpus size, crashes.
# Exits non-zero when a target crashed, naming the input that did it.
# WARDEN_FUZZ_JOBS: parallel targets (default 1); WARDEN_FUZZ_RUNS: stop a
# target after that many executions (SECONDS stays the cap); NINJA_JOBS: build jobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
build=build/fuzz
scratch=$(mktemp -d "${TMPDIR:-/tmp}/warden-fuzz.XXXXXX")

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWARDEN_FUZZ=ON -DWARDEN_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
ninja -C "$build" -j "${NINJA_JOBS:-$(nproc)}" >/dev/null

targets=()
for corpus in tests/fuzz/corpus/*/; do targets+=("$(basename "$corpus")"); done
echo "fuzzing ${#targets[@]} targets for ${seconds}s each, ${WARDEN_FUZZ_JOBS:-1} at a time; scratch $scratch"
started=$(date +%s)
printf '%s\n' "${targets[@]}" | xargs -P "${WARDEN_FUZZ_JOBS:-1}" -I{} \
  bash -c 'tests/fuzz/run_target.sh "$1/tests/fuzz/$2" "tests/fuzz/corpus/$2" "$3/$2" "$4" \
             >"$3/$2.summary" 2>"$3/$2.errors" || true' _ "$build" {} "$scratch" "$seconds"

failed=0
echo
echo "| target | executions | exec/s | seconds | cov | ft | corpus (seeds → end) | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for target in "${targets[@]}"; do
  line=$(cat "$scratch/$target.summary" 2>/dev/null || true)
  value() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
  seeds=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
  crashes=$(value crashes)
  echo "| $target | $(value execs) | $(value exec_per_s) | $(value seconds) | $(value cov) | $(value ft) |" \
    "$seeds → $(value corpus) | ${crashes:-?} |"
  if [ -s "$scratch/$target.errors" ] || [ "${crashes:-1}" != 0 ]; then failed=1; fi
done
echo
echo "wall time $(($(date +%s) - started))s; logs and corpora in $scratch"
if [ "$failed" != 0 ]; then
  cat "$scratch"/*.errors >&2
  exit 1
fi
