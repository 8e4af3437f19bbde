#!/usr/bin/env bash
# The container image's definition, checked without building it (fast, so it
# is part of `make test`; `make image-test` builds and runs the image):
#   - every library popguard and popguard-cli name directly (ELF NEEDED) comes
#     from a package in scripts/image-runtime-packages, the check the
#     Dockerfile's build stage runs (here against this build's binaries);
#   - scripts/image-rootfs.py can reproduce the Dockerfile's runtime stage, and
#     refuses a Dockerfile it cannot follow (an unknown instruction, another
#     base image), so `make image` never silently differs from `docker build`.
# Usage: image_definition_test.sh SOURCE_DIR BINARY_DIR [SANITIZE]
# SANITIZE is 1 for a POPGUARD_SANITIZE build (make test-asan), see below.
set -uo pipefail
src=$1
bin=$2
sanitize=${3:-0}
py=/usr/bin/python3
# shellcheck source=testing/report.sh
. "$src/tests/testing/report.sh"
new_work_dir popguard-imagedef

packages="$src/scripts/image-runtime-packages"
if [ "$sanitize" = 1 ]; then
  # A sanitizer build's binaries also name GCC's sanitizer runtimes (libasan.so.8,
  # libubsan.so.1). Those never ship: the image's binaries come from the Dockerfile's
  # own build stage without sanitizers, where this same check runs against the plain
  # list. So exactly those two runtime packages are allowed here, named, and every
  # other NEEDED entry is still checked against the image's list.
  cp "$packages" "$work/packages-sanitize"
  printf 'libasan8\nlibubsan1\n' >>"$work/packages-sanitize"
  packages="$work/packages-sanitize"
fi
if sh "$src/scripts/image-check-libs.sh" needed "$packages" \
    "$bin/popguard" "$bin/popguard-cli" >"$work/needed.log" 2>&1; then
  pass "every NEEDED library of the binaries is in a runtime package"
else
  cat "$work/needed.log"
  fail "every NEEDED library of the binaries is in a runtime package"
fi
grep -v '^libcurl4$' "$packages" >"$work/short-packages"
sh "$src/scripts/image-check-libs.sh" needed "$work/short-packages" "$bin/popguard" >"$work/short.log" 2>&1
if [ $? -ne 0 ] && grep -q 'runtime packages lack libcurl4 (for libcurl.so.4' "$work/short.log"; then
  pass "a package missing from the list is named (libcurl4)"
else
  fail "a package missing from the list is named (libcurl4)"
fi

# rootfs_check NAME WANT SED_EXPR: image-rootfs.py --check on an edited copy.
rootfs_check() {
  mkdir -p "$work/$1/scripts"
  cp "$src"/scripts/image-* "$work/$1/scripts/"
  sed "$3" "$src/Dockerfile" >"$work/$1/Dockerfile"
  local out
  out=$("$py" "$src/scripts/image-rootfs.py" --check --source "$work/$1" --build-dir "$bin" --out "$work/$1/out" 2>&1)
  if grep -qF "$2" <<<"$out"; then pass "image-rootfs.py $1: $2"; else fail "image-rootfs.py $1: got '$out'"; fi
}
rootfs_check "follows the Dockerfile" "can be reproduced" ''
rootfs_check "refuses an instruction it cannot follow" "instruction WORKDIR in the runtime stage is not supported" \
  's|^USER 65532:65532|WORKDIR /srv\nUSER 65532:65532|'
rootfs_check "refuses another base image" "runtime base debian:13-slim has no mmdebstrap equivalent" \
  's|^FROM debian:12-slim AS runtime|FROM debian:13-slim AS runtime|'
rootfs_check "refuses a COPY from an unknown stage" "unsupported COPY --from=tools" \
  's|^COPY --from=build /build/popguard |COPY --from=tools /build/popguard |'
finish
