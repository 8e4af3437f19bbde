#!/bin/sh
# Sets up the popguard image's runtime root filesystem, from inside it (the
# Dockerfile's runtime stage, or chroot from scripts/image-rootfs.sh):
# installs the packages listed in PACKAGES_FILE (only those still missing, so
# a rootfs that mmdebstrap already filled needs no network), empties apt's
# lists, and creates the unprivileged user 65532 the image runs as (the Helm
# chart's runAsUser).
# Usage: image-runtime-setup.sh PACKAGES_FILE
set -eu
packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1")
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $missing
fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
getent group 65532 >/dev/null || groupadd --gid 65532 popguard
getent passwd 65532 >/dev/null ||
  useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin popguard
