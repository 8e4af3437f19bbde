#!/usr/bin/env bash
# Runs examples/python-gateway/gateway.py (a popguard.v1.Verifier client in
# Python, Debian's grpcio) in front of the real popguard binary started on a
# free loopback port with the quick-start config, and checks what reaches the
# client and the upstream: ALLOW with popguard's identity headers (a client's
# forged copy removed), then dpop_replayed for the same proof, bearer_downgrade
# for the token without its proof, and 503 (fail closed) when popguard is down.
# Usage: python_gateway_test.sh SOURCE_DIR BINARY_DIR
set -uo pipefail
src=$1
bin=$2
py=/usr/bin/python3
work=$(mktemp -d /tmp/popguard-pygw.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
  if [ "$failed" -ne 0 ]; then
    echo "--- popguard log"; cat "$work/popguard.log" 2>/dev/null
    echo "--- gateway log"; cat "$work/gateway.log" 2>/dev/null
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# wait_port LOG PATTERN: prints the port a process announced in LOG.
wait_port() {
  local port=""
  for _ in $(seq 1 100); do
    port=$(grep -o "$2" "$1" 2>/dev/null | grep -o '[0-9]*$' | head -n1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  return 1
}

# 1. Python message classes from the proto (protoc --python_out; the gateway
#    uses grpcio's generic API, so no gRPC plugin is needed).
mkdir -p "$work/gen"
if protoc -I "$src/proto" --python_out="$work/gen" "$src/proto/popguard/v1/verifier.proto" 2>"$work/protoc.log" &&
    PYTHONPATH=$work/gen "$py" -c 'import grpc; from popguard.v1 import verifier_pb2' 2>>"$work/protoc.log"; then
  pass "Python stubs generated and importable with Debian's grpcio"
else
  cat "$work/protoc.log"
  fail "Python stubs generated and importable (needs protobuf-compiler, python3-grpcio, python3-protobuf)"
  finish
fi

# 1b. The README's first commands, as written (paths under /tmp moved into
#     the temp dir), up to starting the servers: they must work on a fresh
#     machine, where /tmp/pg does not exist.
mkdir -p "$work/readme"
"$py" - "$src/examples/python-gateway/README.md" "$work/readme/" >"$work/readme.sh" <<'EOF'
import re, sys
block = re.search(r"```bash\n(.*?)```", open(sys.argv[1]).read(), re.S).group(1)
for line in block.splitlines():
    if line.startswith("./build/popguard"):
        break
    if line.strip() and line.strip() != "make build":
        print(line.replace("/tmp/", sys.argv[2]))
EOF
if (cd "$src" && bash -e "$work/readme.sh") >"$work/readme.log" 2>&1 && [ -f "$work/readme/pg/popguard/v1/verifier_pb2.py" ]; then
  pass "examples/python-gateway/README.md: the first commands work as written"
else
  cat "$work/readme.sh" "$work/readme.log"
  fail "examples/python-gateway/README.md: the first commands work as written"
fi

# 2. popguard and the gateway, both on free loopback ports.
"$bin/popguard" --config "$src/examples/quickstart/popguard.yaml" --listen 127.0.0.1:0 >"$work/popguard.log" 2>&1 &
pids+=($!)
pg_port=$(wait_port "$work/popguard.log" '"event":"listening".*"port":[0-9]*') || { fail "popguard started"; finish; }
pass "popguard started on 127.0.0.1:$pg_port"

# start_gateway POPGUARD_ADDR LOG: starts a gateway in this shell (so its pid
# is recorded for cleanup); wait_port then reads its port from LOG.
start_gateway() {
  PYTHONPATH=$work/gen "$py" "$src/examples/python-gateway/gateway.py" --popguard "$1" \
    --origin https://api.example --listen 127.0.0.1:0 >"$2" 2>&1 &
  pids+=($!)
}
gw_listening='"event": "listening", "port": [0-9]*'
start_gateway "127.0.0.1:$pg_port" "$work/gateway.log"
gw_port=$(wait_port "$work/gateway.log" "$gw_listening") || { fail "gateway started"; finish; }
pass "gateway started on 127.0.0.1:$gw_port"

# 3. A client key, a DPoP-bound token and one proof, minted with the CLI.
CLI=$bin/popguard-cli
ISSUER_KEY=$src/examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk
"$CLI" keygen --alg ES256 --out "$work/client.jwk" >/dev/null
TOKEN=$("$CLI" token --key "$ISSUER_KEY" --iss https://issuer.example --aud https://api.example \
  --sub alice --scope "orders:read" --dpop-key "$work/client.jwk")
PROOF=$("$CLI" proof --key "$work/client.jwk" --method GET --url https://api.example/orders --token "$TOKEN")
if [ -n "$TOKEN" ] && [ -n "$PROOF" ]; then pass "token and proof minted"; else fail "token and proof minted"; finish; fi

# request PORT NAME [HEADER ...]: GET /orders?page=2 through the gateway;
# writes "<status>\n<www-authenticate>\n<json body>" to $work/NAME.
request() {
  local port=$1 name=$2
  shift 2
  "$py" - "http://127.0.0.1:$port/orders?page=2" "$@" >"$work/$name" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
for h in sys.argv[2:]:
    n, v = h.split(": ", 1)
    req.add_header(n, v)
try:
    resp = urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    resp = e
print(resp.status)
print(resp.headers.get("www-authenticate", ""))
print(resp.read().decode())
EOF
}
status() { sed -n 1p "$work/$1"; }
challenge() { sed -n 2p "$work/$1"; }
body() { sed -n '3,$p' "$work/$1"; }
json_field() { "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval("d"+sys.argv[1]))' "$1"; }

# 4. ALLOW: popguard's identity reaches the upstream, the forged header does not.
request "$gw_port" allow "Authorization: DPoP $TOKEN" "DPoP: $PROOF" "X-Popguard-Sub: mallory"
if [ "$(status allow)" = 200 ]; then pass "first request: ALLOW (HTTP 200)"; else fail "first request: ALLOW, got $(cat "$work/allow")"; fi
sub=$(body allow | json_field '["upstream_saw"]["x-popguard-sub"]' 2>/dev/null)
if [ "$sub" = alice ]; then pass "upstream sees x-popguard-sub: alice, not the client's forged value"; else fail "upstream x-popguard-sub is '$sub'"; fi
binding=$(body allow | json_field '["upstream_saw"]["x-popguard-binding"]' 2>/dev/null)
if [ "$binding" = dpop ]; then pass "upstream sees x-popguard-binding: dpop"; else fail "upstream x-popguard-binding is '$binding'"; fi

# 5. The same proof again: dpop_replayed, with popguard's challenge passed on.
request "$gw_port" replay "Authorization: DPoP $TOKEN" "DPoP: $PROOF"
if [ "$(status replay)" = 401 ] && [ "$(body replay | json_field '["error"]' 2>/dev/null)" = dpop_replayed ]; then
  pass "replayed proof: DENY dpop_replayed (HTTP 401)"
else
  fail "replayed proof: DENY dpop_replayed, got $(cat "$work/replay")"
fi
if challenge replay | grep -q 'DPoP.*error="invalid_dpop_proof"'; then
  pass "WWW-Authenticate from popguard reaches the client"
else
  fail "WWW-Authenticate from popguard reaches the client: '$(challenge replay)'"
fi

# 6. The token as a bearer token, without its proof: bearer_downgrade.
request "$gw_port" bearer "Authorization: Bearer $TOKEN"
if [ "$(status bearer)" = 401 ] && [ "$(body bearer | json_field '["error"]' 2>/dev/null)" = bearer_downgrade ]; then
  pass "token without its proof: DENY bearer_downgrade (HTTP 401)"
else
  fail "token without its proof: DENY bearer_downgrade, got $(cat "$work/bearer")"
fi

# 7. popguard unreachable: the gateway fails closed.
dead_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_gateway "127.0.0.1:$dead_port" "$work/gateway2.log"
gw2_port=$(wait_port "$work/gateway2.log" "$gw_listening") || { fail "second gateway started"; finish; }
request "$gw2_port" down "Authorization: DPoP $TOKEN" "DPoP: $PROOF"
if [ "$(status down)" = 503 ]; then pass "popguard unreachable: 503, nothing forwarded"; else fail "popguard unreachable: got $(cat "$work/down")"; fi

# 8. Neither log holds the token or the proof.
printf '%s\n%s\n' "${TOKEN:0:60}" "${PROOF:0:60}" >"$work/secrets"
if grep -q -F -f "$work/secrets" "$work/popguard.log" "$work/gateway.log" "$work/gateway2.log"; then
  fail "no token or proof in the logs"
else
  pass "no token or proof in the logs"
fi
finish
