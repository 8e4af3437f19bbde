#!/usr/bin/env bash
# Independent implementations against the real popguard binary: mint.mjs
# mints, with panva jose and dpop (npm), an issuer JWKS, DPoP-bound access
# tokens and DPoP proofs for every algorithm popguard supports (Ed25519 proofs
# exactly as dpop ships them, alg "Ed25519"). popguard runs with that JWKS on
# a free loopback port; every case must be ALLOWed through Verify and Check
# (popguard-cli check), and a tampered token and a tampered proof denied with
# their exact reasons.
# Usage: interop_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
bin=$2
here=$src/tests/interop
if [ ! -d "$here/node_modules/dpop" ] || [ ! -d "$here/node_modules/jose" ]; then
  echo "FAIL: $here/node_modules is missing: run scripts/install-deps.sh (npm ci needs the npm registry)"
  exit 1
fi
work=$(mktemp -d /tmp/popguard-interop.XXXXXX)
pid=""
mint=""
cleanup() {
  for p in $pid $mint; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

iss=https://issuer.interop.test
aud=https://api.interop.test
url=https://api.interop.test/orders
# Keys (and the JWKS) first; tokens and proofs once popguard runs.
node "$here/mint.mjs" "$iss" "$aud" "$url" GET "$work/jwks.json" >"$work/cases.json" &
mint=$!
for _ in $(seq 1 600); do
  [ -s "$work/jwks.json" ] && break
  kill -0 "$mint" 2>/dev/null || break
  sleep 0.1
done
[ -s "$work/jwks.json" ] || { echo "FAIL: mint.mjs wrote no JWKS"; exit 1; }
algs="[ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA, Ed25519]"
cat >"$work/popguard.yaml" <<YAML
log_level: info
issuers:
  - issuer: $iss
    jwks_file: jwks.json
    audiences: [$aud]
    algorithms: $algs
    require_typ: true
dpop:
  algorithms: $algs
default_binding: dpop
YAML

"$bin/popguard" --config "$work/popguard.yaml" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: popguard did not start"; cat "$work/server.log"; exit 1; }
touch "$work/jwks.json.go"
wait "$mint" || { echo "FAIL: mint.mjs failed"; exit 1; }
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
d = json.load(open(f"{work}/cases.json"))
with open(f"{work}/cases.tsv", "w") as f:
    for c in d["cases"]:
        f.write("\t".join([c["alg"], c["proof_by"], c["token"], c["proof"]]) + "\n")
PY

fail=0
passed=0
# expect NAME WANT_FIRST_LINE API TOKEN PROOF
expect() {
  local name=$1 want=$2 api=$3 token=$4 proof=$5 got
  got=$("$bin/popguard-cli" check --addr "127.0.0.1:$port" --api "$api" --method GET --url "$url" \
          --token "$token" --proof "$proof" 2>&1 | head -1 || true)
  if [ "$got" = "$want" ]; then
    passed=$((passed + 1))
  else
    echo "FAIL: $name ($api): want '$want', got '$got'"
    fail=1
  fi
}
n=0
while IFS=$'\t' read -r alg by token proof; do
  n=$((n + 1))
  # Each proof may be used once (replay window): Verify takes the proof as
  # minted; Check gets the same token with the proof re-sent, which must be
  # dpop_replayed, proving both APIs saw the same jti.
  expect "$alg token (jose) + proof ($by)" "ALLOW ok (HTTP 200)" verify "$token" "$proof"
  expect "$alg replayed through Check" "DENY dpop_replayed (HTTP 401)" check "$token" "$proof"
  if [ "$alg" = Ed25519 ]; then
    # A flipped payload character: the issuer's signature no longer verifies.
    payload=$(cut -d. -f2 <<<"$token")
    flipped=$(python3 -c 'import sys; p = sys.argv[1]; i = len(p) // 2
print(p[:i] + ("A" if p[i] != "A" else "B") + p[i + 1:])' "$payload")
    tampered="$(cut -d. -f1 <<<"$token").$flipped.$(cut -d. -f3 <<<"$token")"
    expect "$alg tampered token" "DENY token_signature_invalid (HTTP 401)" verify "$tampered" "$proof"
    sig=$(cut -d. -f3 <<<"$proof")
    badsig=$(python3 -c 'import sys; s = sys.argv[1]
print(("B" if s[0] != "B" else "C") + s[1:])' "$sig")
    expect "$alg tampered proof" "DENY dpop_signature_invalid (HTTP 401)" verify "$token" \
      "$(cut -d. -f1,2 <<<"$proof").$badsig"
  fi
done <"$work/cases.tsv"
[ "$n" -eq 11 ] || { echo "FAIL: mint.mjs produced $n cases, want 11"; fail=1; }
if [ $fail -ne 0 ]; then cat "$work/server.log"; echo "$passed passed, some failed"; exit 1; fi
echo "$passed passed, 0 failed"
