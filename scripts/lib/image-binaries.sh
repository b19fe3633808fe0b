#!/usr/bin/env bash
# image-binaries.sh BUILD_DIR OUT_DIR
# A Release build of the binaries Warden's images carry, stripped into OUT_DIR.
# Run from the source tree, on the host (scripts/images) or in the compile
# stage of deploy/docker/Dockerfile.build, so both build the same thing.
set -euo pipefail
build=$1
out=$2
declare -A binary_path=(
  [warden-control]=controlplane/warden-control
  [warden-agent]=agent/warden-agent
  [wardenctl]=tools/wardenctl/wardenctl
  [grpcurl-compat]=tools/grpcurl/grpcurl-compat
)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# Warnings are not errors here: ./scripts/test's sanitizer build gates them,
# and an image build must not fail on a newer compiler's false positive.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=OFF \
  -DWARDEN_BUILD_BENCH=OFF -DWARDEN_WERROR=OFF "${launcher[@]}" >/dev/null
ninja -C "$build" -j "$(nproc)" "${!binary_path[@]}"
mkdir -p "$out"
for name in "${!binary_path[@]}"; do
  install -m 0755 --strip "$build/${binary_path[$name]}" "$out/$name"
done
