#!/usr/bin/env bash
# Installs the Debian 12 packages popguard needs to build, test and run, skipping
# what is already there. Safe to run repeatedly; needs root (or sudo) only when
# something is actually missing.
#
#   scripts/install-deps.sh           what `make build/run/test/test-asan` need
#   scripts/install-deps.sh --clang   also clang and its libFuzzer/ASan runtimes
#                                     (`make fuzz` only, so a plain build stays lean)
set -euo pipefail

PACKAGES=(
  build-essential cmake make pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libyaml-cpp-dev
  libhiredis-dev redis-server redis-tools libcurl4-openssl-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl python3 ccache
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  python3-jsonschema python3-yaml python3-grpcio python3-protobuf python3-matplotlib
  prometheus mmdebstrap
)
if [ "${1:-}" = "--clang" ]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
