#!/usr/bin/env bash
# Smoke test of the container image without a container runtime (podman run
# cannot work on these machines: crun's setrlimit and cgroup setup fail).
# scripts/image-rootfs.py builds the image's root filesystem by executing the
# Dockerfile's runtime stage (mmdebstrap for debian:12-slim; the first build
# needs Debian's mirror and takes minutes, later ones reuse the cached base).
# Then the image's ENTRYPOINT runs as its USER in that rootfs, the way the Helm
# chart runs it: chroot, new PID and mount namespaces, the root filesystem
# read-only, the config mounted read-only at /etc/popguard/config, a tmpfs on
# /tmp. The network namespace is the host's, so the checks run from outside
# the rootfs on a free loopback port: gRPC health SERVING, one ALLOW and one
# DENY with popguard-cli, the process's uid, and a clean exit on SIGTERM.
# Usage: image_smoke_test.sh SOURCE_DIR BINARY_DIR
set -uo pipefail
src=$1
bin=$2
py=/usr/bin/python3
out=$bin/image
work=$(mktemp -d /tmp/popguard-image.XXXXXX)
upid=""
cleanup() {
  if [ -n "$upid" ]; then
    kill -KILL "$upid" 2>/dev/null
    wait "$upid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=testing/report.sh
. "$src/tests/testing/report.sh"
on_failure() {
  [ -f "$work/popguard.log" ] && { echo "--- popguard log (in the image)"; cat "$work/popguard.log"; }
}

# 1. The rootfs, from the Dockerfile's runtime stage.
if "$py" "$src/scripts/image-rootfs.py" --source "$src" --build-dir "$bin" --out "$out" >"$work/rootfs.log" 2>&1; then
  pass "rootfs built from the Dockerfile's runtime stage ($out/rootfs)"
else
  cat "$work/rootfs.log"
  fail "rootfs built from the Dockerfile's runtime stage (needs mmdebstrap and Debian's mirror the first time)"
  finish
fi
root=$out/rootfs
user=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["User"])' "$out/image-config.json")
mapfile -t entrypoint < <("$py" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["Entrypoint"]))' \
  "$out/image-config.json")
if [ "$user" = "65532:65532" ] && [ "${entrypoint[*]}" = /usr/local/bin/popguard ]; then
  pass "image config: USER $user, ENTRYPOINT ${entrypoint[*]}"
else
  fail "image config: USER 65532:65532 and ENTRYPOINT popguard, got '$user' '${entrypoint[*]}'"
fi
chroot "$root" /usr/local/bin/popguard-cli thumbprint --jwk /dev/null >/dev/null 2>"$work/cli.err"
if ! grep -q "error while loading shared libraries" "$work/cli.err"; then
  pass "popguard-cli loads its libraries in the image"
else
  cat "$work/cli.err"
  fail "popguard-cli loads its libraries in the image"
fi

# 2. The entrypoint, as the chart runs it.
mkdir -p "$root/etc/popguard/config"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --pid --mount --fork --kill-child --propagation private sh -c '
  set -e
  root=$1 config=$2 user=$3
  shift 3
  mount --bind "$root" "$root"
  mount --bind -o ro "$config" "$root/etc/popguard/config"
  mount -o remount,bind,ro "$config" "$root/etc/popguard/config"
  mount -t tmpfs -o size=16m,mode=1777 tmpfs "$root/tmp"
  mount -t proc proc "$root/proc"
  mount -o remount,bind,ro "$root" "$root"
  exec chroot --userspec="$user" "$root" "$@"
' sh "$root" "$src/examples/quickstart" "$user" "${entrypoint[@]}" \
  --config=/etc/popguard/config/popguard.yaml --listen=127.0.0.1:0 >"$work/popguard.log" 2>&1 &
upid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/popguard.log" 2>/dev/null | grep -o '[0-9]*$')
  [ -n "$port" ] && break
  kill -0 "$upid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$port" ]; then pass "popguard started in the image on 127.0.0.1:$port"; else fail "popguard started in the image"; finish; fi

# The popguard process (the namespace's PID 1) runs as the image's user.
child=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
uid=$(awk '/^Uid:/ {print $2}' "/proc/$child/status" 2>/dev/null)
if [ "$uid" = 65532 ]; then pass "popguard runs as uid 65532"; else fail "popguard runs as uid 65532, got '$uid'"; fi

# 3. gRPC health of the whole server (what the chart's readiness probe asks).
health=$("$py" - "127.0.0.1:$port" <<'PYEOF'
import sys, grpc
ch = grpc.insecure_channel(sys.argv[1])
check = ch.unary_unary("/grpc.health.v1.Health/Check",
                       request_serializer=lambda b: b, response_deserializer=lambda b: b)
# HealthCheckRequest{service: ""} is empty; HealthCheckResponse{status: SERVING} is 08 01.
print({b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(check(b"", timeout=5), "other"))
PYEOF
)
if [ "$health" = SERVING ]; then pass "gRPC health: SERVING"; else fail "gRPC health: SERVING, got '$health'"; fi

# 4. One ALLOW and one DENY, asked from outside the image.
CLI=$bin/popguard-cli
TOKEN=$("$CLI" token --key "$src/examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk" --iss https://issuer.example \
  --aud https://api.example --sub alice --typ at+jwt)
# expect_check NAME URL EXIT FIRST_LINE: popguard-cli check with the bearer token.
expect_check() {
  "$CLI" check --addr "127.0.0.1:$port" --method GET --url "$2" --token "$TOKEN" >"$work/check.txt" 2>&1
  local rc=$?
  if [ $rc -eq "$3" ] && [ "$(head -n1 "$work/check.txt")" = "$4" ]; then
    pass "$1: $4"
  else
    cat "$work/check.txt"
    fail "$1: $4 (exit $rc)"
  fi
}
expect_check "bearer token on the public route" https://api.example/public/items 0 "ALLOW ok (HTTP 200)"
expect_check "bearer token where a bound token is required" https://api.example/orders 1 \
  "DENY binding_required (HTTP 401)"

# 5. SIGTERM: drain and exit 0 (PID 1 of the namespace must handle it itself).
kill -TERM "$child" 2>/dev/null
code=""
for _ in $(seq 1 150); do
  if ! kill -0 "$upid" 2>/dev/null; then
    wait "$upid"
    code=$?
    break
  fi
  sleep 0.1
done
upid_done=$upid
upid=""
if [ "$code" = 0 ]; then
  pass "SIGTERM: popguard drains and exits 0"
else
  [ -z "$code" ] && upid=$upid_done
  fail "SIGTERM: popguard drains and exits 0 (exit '${code:-still running}')"
fi
if grep -q '"level":"error"' "$work/popguard.log"; then fail "no error logged in the image"; else pass "no error logged in the image"; fi
finish
