#!/bin/sh
# Checks that the popguard image can load its binaries' shared libraries.
#   image-check-libs.sh needed PACKAGES_FILE BINARY...
#     (build stage) every library a binary names directly (ELF NEEDED) comes
#     from a package listed in PACKAGES_FILE. Only direct entries count: the
#     libraries those load (libcurl's libbrotli1, libnghttp2, ...) are the
#     listed packages' own dependencies, which apt installs with them.
#   image-check-libs.sh resolved BINARY...
#     (runtime stage or rootfs) ldd finds every library, direct or indirect.
set -eu
mode=$1
shift
case "$mode" in
  needed)
    packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1")
    shift
    # "soname path binary" for every NEEDED entry (one ldd per binary).
    libs=$(for bin in "$@"; do
      resolved=$(ldd "$bin")
      for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        path=$(echo "$resolved" | awk -v l="$soname" '$1 == l && $3 ~ /^\// {print $3}')
        echo "$soname ${path:--} $bin"
      done
    done)
    # One dpkg -S for every path and its symlink target ("pkg:arch: path").
    owners=$(echo "$libs" | awk '$2 != "-" {print $2}' | sort -u | while read -r p; do
      echo "$p"; readlink -f "$p"; done | sort -u | xargs -r dpkg -S 2>/dev/null || true)
    status=0
    while read -r soname path bin; do
      if [ "$path" = - ]; then
        echo "image-check-libs: $bin needs $soname, which ldd cannot find"
        status=1
        continue
      fi
      real=$(readlink -f "$path")
      pkg=$(echo "$owners" | awk -v a="$path" -v b="$real" '$NF == a || $NF == b {sub(/:.*/, "", $1); print $1; exit}')
      if ! printf '%s\n' $packages | grep -qxF "$pkg"; then
        echo "image-check-libs: runtime packages lack ${pkg:-the package of $path} (for $soname, needed by $bin)"
        status=1
      fi
    done <<LIBS
$libs
LIBS
    exit $status
    ;;
  resolved)
    out=$(ldd "$@" 2>&1) || { echo "$out"; exit 1; }
    if echo "$out" | grep -q "not found"; then
      echo "$out" | grep "not found"
      exit 1
    fi
    ;;
  *)
    echo "usage: image-check-libs.sh needed PACKAGES_FILE BINARY... | resolved BINARY..." >&2
    exit 2
    ;;
esac
