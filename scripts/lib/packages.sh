# Debian packages Warden needs, and an idempotent installer that says what it does.
# shellcheck shell=bash

WARDEN_BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libpqxx-dev libpq-dev libspdlog-dev libsodium-dev libcli11-dev
  libcurl4-openssl-dev nlohmann-json3-dev libcpp-httplib-dev libmnl-dev libcivetweb-dev
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libssl-dev
)
# The end-to-end rigs drive real VPN software in network namespaces; tests/deploy
# lints and checks the deployment files (node/npm, when present, add schema checks);
# tests/fuzz needs clang and its libFuzzer runtime (libclang-rt-dev); the
# high-availability test runs a Patroni cluster (patroni, etcd-server, python3-etcd).
WARDEN_TEST_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev
  openvpn openssl wireguard-go wireguard-tools iputils-ping socat iperf3
  yamllint docker-compose python3-yaml systemd clang libclang-rt-dev
  patroni etcd-server python3-etcd curl)
WARDEN_RUNTIME_PACKAGES=(postgresql postgresql-client iproute2 procps)

# ensure_packages PKG... : installs those not yet installed (root: apt-get; else sudo).
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "packages: all ${#@} present"
    return 0
  fi
  echo "packages: installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "packages: installed ${missing[*]}"
}
