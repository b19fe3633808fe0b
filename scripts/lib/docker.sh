# Docker helpers of scripts/images and tests/deploy (source, don't run).
# shellcheck shell=bash

# docker_engine_unavailable: prints why there is no usable Docker engine and
# fails, or succeeds quietly. As root with none running, it installs Debian's
# docker.io if needed and starts dockerd without iptables rules or a default
# bridge: containers then reach each other on their own compose network, and
# the host only through ports published on 127.0.0.1.
docker_engine_unavailable() {
  command -v docker >/dev/null && docker info >/dev/null 2>&1 && return 1
  if [ "$(id -u)" != 0 ]; then
    echo "no Docker engine answers and only root may start one (run as root, or start Docker)"
    return 0
  fi
  # An installed engine that is merely stopped (docker-ce or docker.io under
  # systemd) is started as its packager meant, with its own configuration.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ] &&
     systemctl cat docker.service >/dev/null 2>&1; then
    systemctl start docker >&2 && docker info >/dev/null 2>&1 && return 1
  fi
  if ! command -v dockerd >/dev/null; then
    ensure_packages docker.io >&2 || { echo "could not install docker.io"; return 0; }
  fi
  local log=/var/log/warden-dockerd.log
  (setsid dockerd --iptables=false --bridge=none >"$log" 2>&1 &)
  local _
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && return 1
    sleep 0.5
  done
  echo "dockerd did not start within 60 s ($(tail -n 3 "$log" | tr '\n' ' '))"
  return 0
}

# ensure_base_images: the Debian 12 images the Dockerfiles start FROM. Pulled
# when a registry answers; otherwise made from the Debian package mirror with
# mmdebstrap (about a minute), trimmed like Debian's own slim image (no
# manuals, locales or documentation but the copyright files).
ensure_base_images() {
  local have_all=1 tag
  for tag in debian:bookworm debian:bookworm-slim; do
    docker image inspect "$tag" >/dev/null 2>&1 || have_all=0
  done
  [ "$have_all" = 1 ] && return 0
  if timeout 300 docker pull -q debian:bookworm-slim >/dev/null 2>&1 &&
     timeout 300 docker pull -q debian:bookworm >/dev/null 2>&1; then
    echo "images: pulled debian:bookworm and debian:bookworm-slim"
    return 0
  fi
  echo "images: no registry answers; making debian:bookworm-slim from the package mirror (mmdebstrap)"
  command -v mmdebstrap >/dev/null || ensure_packages mmdebstrap
  mmdebstrap --quiet --variant=minbase --mode=root \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm - | docker import - debian:bookworm-slim >/dev/null
  # The build stage installs everything it needs on top, so the slim image
  # serves as debian:bookworm too.
  docker image inspect debian:bookworm >/dev/null 2>&1 || docker tag debian:bookworm-slim debian:bookworm
}
