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
    status=0
    for bin in "$@"; do
      for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        path=$(ldd "$bin" | awk -v l="$soname" '$1 == l && $3 ~ /^\// {print $3}')
        if [ -z "$path" ]; then
          echo "image-check-libs: $bin needs $soname, which ldd cannot find"
          status=1
          continue
        fi
        pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path")
        pkg=${pkg%%:*}
        if ! printf '%s\n' $packages | grep -qxF "$pkg"; then
          echo "image-check-libs: runtime packages lack $pkg (for $soname, needed by $bin)"
          status=1
        fi
      done
    done
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
