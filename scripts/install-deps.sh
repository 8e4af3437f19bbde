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
  openssl python3 ccache clang-format
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  python3-jsonschema python3-yaml python3-grpcio python3-protobuf python3-matplotlib
  prometheus mmdebstrap
  nginx-light caddy curl
)
if [ "${1:-}" = "--clang" ]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

# tests/interop: panva jose and dpop and Envoy's protos (@grpc/grpc-js-xds),
# pinned by package-lock.json, when node and npm are on the machine. Only when
# node_modules is missing or older than the lock file; without the registry
# (offline) this says so and goes on: the interop tests then fail naming it.
interop=$(cd "$(dirname "$0")/../tests/interop" && pwd)
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -f "$interop/node_modules/.package-lock.json" ] ||
     [ "$interop/package-lock.json" -nt "$interop/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in tests/interop"
    if ! (cd "$interop" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1); then
      echo "install-deps: npm ci in tests/interop failed (is the npm registry reachable?);" \
           "the interop tests will fail until it succeeds"
    fi
  fi
else
  echo "install-deps: node/npm not found; the interop tests (tests/interop) will fail"
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
