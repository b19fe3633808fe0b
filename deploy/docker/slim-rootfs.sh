#!/bin/sh
# Last step of a runtime image's root file system, which the Dockerfile then
# copies into an empty image (so the space is really freed): removes what a
# running Warden process never uses. No package manager (the root file system
# is read-only anyway), no Perl or debconf, no file-system tools, keyrings or
# character-set converters. dpkg and its database stay, so scanners still see
# every package and version.
set -eu
purge="apt libapt-pkg6.0 debconf perl-base e2fsprogs libext2fs2 libss2 gpgv debian-archive-keyring"
# --force-depends: the essential packages' reverse dependencies stay;
# e2fsprogs' postrm calls deb-systemd-helper, which a container lacks.
# shellcheck disable=SC2086
dpkg --purge --force-remove-essential --force-depends $purge >/dev/null 2>&1 || true
for package in $purge; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    echo "slim-rootfs: could not remove $package" >&2
    exit 1
  fi
done
rm -rf /usr/lib/x86_64-linux-gnu/gconv /var/cache/debconf /var/lib/apt \
  /var/cache/apt /var/log/* /tmp/* "$0"
