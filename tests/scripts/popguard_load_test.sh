#!/usr/bin/env bash
# Runs popguard-load against the real popguard binary on a free loopback port:
# DPoP through ext_authz Check in closed loop and in open loop (~2 s each), then
# short runs of the other APIs and bindings, and one against popguard-noop (the
# benchmark-only no-op server; `popguard --noop` no longer exists); each with
# --json. Every run must finish with zero errors, zero denials, zero
# unfinished requests (popguard-load already waited --timeout + 2 s for them:
# one left over is a lost reply), no exhausted proof pool (the run would have
# stopped early and measured less than asked) and a non-zero throughput and
# server CPU figure. Prints "N passed, M failed".
set -uo pipefail
src=$1
bin=$2
work=$(mktemp -d /tmp/popguard-load-test.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

# start_server LOG [ARGS...]: starts popguard (or $server_bin), sets $port and $server_pid.
server_bin=popguard
start_server() {
  local log=$1
  shift
  "$bin/$server_bin" --config "$work/popguard.yaml" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -o '"event":"listening".*"port":[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "popguard did not start:"
  cat "$log"
  return 1
}

# field JSON NAME: the number after "NAME": in a one-line JSON object.
field() { grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2; }

# run NAME ARGS...: one popguard-load run with --json, then the checks.
run() {
  local name=$1
  shift
  local out="$work/$name.json"
  if ! "$bin/popguard-load" --issuer_key "$work/issuer.jwk" --target "127.0.0.1:$port" \
      --server_pid "$server_pid" --json --progress=false --warmup 0.3 "$@" \
      >"$out" 2>"$work/$name.err"; then
    fail "$name: popguard-load exited with an error"
    cat "$work/$name.err"
    return
  fi
  local errors denied requests rps cpu unfinished
  errors=$(field "$out" errors)
  unfinished=$(field "$out" unfinished)
  denied=$(field "$out" denied)
  requests=$(field "$out" requests)
  rps=$(field "$out" throughput_rps)
  cpu=$(field "$out" server_cpu_us_per_request)
  echo "  $name: requests=$requests rps=$rps errors=$errors denied=$denied server_us/req=$cpu"
  if [ "$errors" != "0" ]; then fail "$name: $errors errors"; cat "$out"; return; fi
  if [ "$denied" != "0" ]; then fail "$name: $denied denials"; cat "$out"; return; fi
  if [ "$unfinished" != "0" ]; then fail "$name: $unfinished unfinished"; cat "$out"; return; fi
  if ! grep -q '"pool_exhausted":false' "$out"; then
    fail "$name: the proof pool ran out (or no pool_exhausted field)"
    cat "$out"
    return
  fi
  if ! awk -v r="$requests" -v t="$rps" -v c="$cpu" 'BEGIN { exit !(r > 0 && t > 0 && c > 0) }'; then
    fail "$name: no throughput or no server CPU figure"
    cat "$out"
    return
  fi
  pass "$name"
}

"$bin/popguard-load" --write_issuer_key "$work/issuer.jwk" --write_jwks "$work/jwks.json" \
  --write_config "$work/popguard.yaml" || { echo "cannot write the load config"; exit 1; }

start_server "$work/server.log" || exit 1
run closed_check_dpop --api check --binding dpop --mode closed --concurrency 8 --duration 2
run open_check_dpop --api check --binding dpop --mode open --rate 300 --duration 2
grep -q '"reasons":{"ok":' "$work/open_check_dpop.json" && pass "decisions counted by reason" \
  || fail "decisions counted by reason"
run closed_verify_dpop --api verify --binding dpop --mode closed --concurrency 4 --duration 0.7
run closed_stream_dpop --api stream --binding dpop --mode closed --concurrency 8 --duration 0.7
run open_stream_dpop --api stream --binding dpop --mode open --rate 200 --duration 0.7
# Enough requests for the server CPU figure to leave /proc's 10 ms clock tick
# (150 took 20 ms on an idle machine and read 0 s of server CPU).
run bounded_requests --api check --binding dpop --mode closed --concurrency 4 --requests 2000 \
  --duration 30
[ "$(field "$work/bounded_requests.json" requests)" = "2000" ] && pass "--requests bounds the run" \
  || fail "--requests bounds the run"

# Bearer and mTLS need their own route binding: a config per binding.
for b in bearer mtls; do
  "$bin/popguard-load" --issuer_key "$work/issuer.jwk" --binding "$b" \
    --write_jwks "$work/jwks.json" --write_config "$work/popguard.yaml" >/dev/null
  start_server "$work/server-$b.log" || exit 1
  run "closed_check_$b" --api check --binding "$b" --mode closed --concurrency 4 --duration 0.7
  run "closed_verify_$b" --api verify --binding "$b" --mode closed --concurrency 4 --duration 0.7
done

# The no-op server: allows everything, and says so loudly at start-up.
server_bin=popguard-noop
start_server "$work/server-noop.log" || exit 1
server_bin=popguard
grep -q 'noop_mode' "$work/server-noop.log" && grep -q 'WARNING: EVERY REQUEST' "$work/server-noop.log" \
  && pass "popguard-noop warns at start-up" || fail "popguard-noop warns at start-up"
# (It can answer faster than the 25,000 req/s the default proof pool is sized
# for, so the pool is given explicitly: 1 s at up to 40,000 req/s.)
run noop_check_dpop --api check --binding dpop --mode closed --concurrency 8 --duration 0.7 \
  --pool 40000
# The server binary itself refuses the flag.
if "$bin/popguard" --config "$work/popguard.yaml" --noop >"$work/noop-flag.log" 2>&1; then
  fail "popguard --noop is refused"
elif grep -q "unknown flag --noop (see popguard --help)" "$work/noop-flag.log"; then
  pass "popguard --noop is refused"
else
  fail "popguard --noop is refused"; cat "$work/noop-flag.log"
fi

# A denial is reported by reason, not as an error: bearer tokens on the mTLS
# server, whose route needs a certificate-bound token.
port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/server-mtls.log" | grep -o '[0-9]*$')
"$bin/popguard-load" --issuer_key "$work/issuer.jwk" --target "127.0.0.1:$port" --json \
  --progress=false --warmup 0 --requests 20 --duration 10 --binding bearer \
  >"$work/deny.json" 2>/dev/null
if grep -q '"binding_required":20' "$work/deny.json" && [ "$(field "$work/deny.json" errors)" = "0" ]; then
  pass "denials counted by reason code"
else
  fail "denials counted by reason code"
  cat "$work/deny.json"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
