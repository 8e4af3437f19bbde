#!/usr/bin/env bash
# Runs the README's walk-through block, as written, against the real popguard
# binary on a free loopback port (the block's 127.0.0.1:9001 and /tmp paths are
# rewritten to this run's port and temp directory), and checks what the README
# promises: step 4 prints exactly the block the README shows, step 5
# dpop_replayed with its www-authenticate challenge, step 6 bearer_downgrade;
# one deny log line per denial with reason, route, issuer, the proof key's
# thumbprint and a short hash of the token (both recomputed here), and never
# a token or proof; then the "Try more" cases, run as the paragraph says.
set -euo pipefail
src=$1
bin=$2
work=$(mktemp -d /tmp/popguard-walkthrough.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/popguard" --config "$src/examples/quickstart/popguard.yaml" --listen 127.0.0.1:0 \
  >"$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "popguard did not start"; cat "$work/server.log"; exit 1; }

# The block between the walkthrough markers, with this run's port and paths.
sed -n '/<!-- walkthrough:begin -->/,/<!-- walkthrough:end -->/p' "$src/README.md" \
  | sed '1,2d;$d' | sed '$d' \
  | sed -e "s#127.0.0.1:9001#127.0.0.1:$port#g" -e "s#/tmp/client.jwk#$work/client.jwk#g" \
        -e "s#\./build/popguard-cli#$bin/popguard-cli#g" >"$work/walkthrough.sh"
# Keep the secrets the block made, to prove none of them reaches the log, and
# the token, to recompute its short hash.
echo 'printf "%s\n%s\n" "${TOKEN:0:60}" "${PROOF:0:60}" >"'"$work"'/secrets"' >>"$work/walkthrough.sh"
echo 'printf "%s" "$TOKEN" >"'"$work"'/token"' >>"$work/walkthrough.sh"

cd "$src"
# `check` exits 1 on DENY; the walk-through expects denials, so run it without -e.
bash "$work/walkthrough.sh" >"$work/out.txt" 2>&1 || true
cat "$work/out.txt"

fail=0
# Step 4: exactly the lines the README shows under "Step 4 prints".
awk '/^Step 4 prints/{f=1; next} f&&/^```$/{n++; if (n==2) exit; next} f&&n==1' "$src/README.md" \
  >"$work/step4.want"
[ -s "$work/step4.want" ] || { echo "FAIL: README has no step 4 output block"; fail=1; }
grep -A "$(($(wc -l <"$work/step4.want") - 1))" '^ALLOW ok (HTTP 200)' "$work/out.txt" >"$work/step4.got" || true
diff -u "$work/step4.want" "$work/step4.got" || { echo "FAIL: step 4 output differs from the README"; fail=1; }
grep -q '^DENY dpop_replayed (HTTP 401)' "$work/out.txt" || { echo "FAIL: step 5 not dpop_replayed"; fail=1; }
# The README's challenge, up to its elided algs="...".
challenge=$(grep -o '`www-authenticate: DPoP [^`]*`' "$src/README.md" | head -1 | tr -d '`' | sed 's/\.\.\."$//')
[ -n "$challenge" ] || { echo "FAIL: README names no www-authenticate challenge"; fail=1; }
grep -qF "response header: $challenge" "$work/out.txt" || { echo "FAIL: step 5 challenge is not: $challenge"; fail=1; }
grep -q '^DENY bearer_downgrade (HTTP 401)' "$work/out.txt" || { echo "FAIL: step 6 not bearer_downgrade"; fail=1; }
# The block really made a token and a proof (compact JWS, not empty strings).
if [ "$(grep -c '^eyJ[A-Za-z0-9_-]\{40,\}' "$work/secrets")" -eq 2 ]; then
  # The server log must name reasons, never the token or proof.
  if grep -q -F -f "$work/secrets" "$work/server.log"; then echo "FAIL: a token or proof is in the log"; fail=1; fi
else
  echo "FAIL: walk-through did not define TOKEN and PROOF"
  fail=1
fi
if grep -q '"token"\|"proof"' "$work/server.log"; then echo "FAIL: log has token/proof fields"; fail=1; fi
# One deny line per denial, with reason, route, issuer, the proof key's
# thumbprint (RFC 7638 of client.jwk; none without a proof) and the token's
# short hash (first 8 bytes of its SHA-256, hex), computed here independently.
jkt=$(python3 -c 'import base64, hashlib, json, sys
k = json.load(open(sys.argv[1]))
c = json.dumps({m: k[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
print(base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).decode().rstrip("="))' "$work/client.jwk")
token_id=$(printf '%s' "$(cat "$work/token")" | sha256sum | cut -c1-16)
[ "$(grep -c '"event":"deny"' "$work/server.log")" -eq 2 ] || { echo "FAIL: not one deny line per denial"; fail=1; }
for want in "\"reason\":\"dpop_replayed\".*\"route\":\"default\",\"issuer\":\"https://issuer.example\".*\"jkt\":\"$jkt\",\"token_id\":\"$token_id\"" \
            "\"reason\":\"bearer_downgrade\".*\"route\":\"default\",\"issuer\":\"https://issuer.example\".*\"jkt\":\"\",\"token_id\":\"$token_id\""; do
  grep '"event":"deny"' "$work/server.log" | grep -q "$want" || { echo "FAIL: no deny log line matching $want"; fail=1; }
done

# "Try more", as the README's paragraph describes each case (the paragraph
# must still promise them).
for promise in 'gives `dpop_htu_mismatch`' '`--method POST` gives `dpop_htm_mismatch`' \
               'the same token on `/orders` gives' '`binding_required`'; do
  grep -qF -- "$promise" "$src/README.md" || { echo "FAIL: README no longer says: $promise"; fail=1; }
done
cli=$bin/popguard-cli
key=examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk
token=$(cat "$work/token")
orders=https://api.example/orders
# try NAME EXPECTED_FIRST_LINE CHECK_ARGS...: one check, its first line compared.
try() {
  local name=$1 want=$2
  shift 2
  "$cli" check --addr "127.0.0.1:$port" "$@" >"$work/try-$name.txt" 2>&1 || true
  if [ "$(head -1 "$work/try-$name.txt")" != "$want" ]; then
    echo "FAIL: try more, $name: want '$want', got:"
    cat "$work/try-$name.txt"
    fail=1
  fi
}
other=$("$cli" proof --key "$work/client.jwk" --method GET --url https://api.example/other --token "$token")
try htu "DENY dpop_htu_mismatch (HTTP 401)" --method GET --url "$orders" --token "$token" --proof "$other"
grep -q 'https://api.example/other.*https://api.example/orders\|https://api.example/orders.*https://api.example/other' \
  "$work/try-htu.txt" || { echo "FAIL: try more, htu: the message does not show both URLs"; fail=1; }
post=$("$cli" proof --key "$work/client.jwk" --method POST --url "$orders" --token "$token")
try htm "DENY dpop_htm_mismatch (HTTP 401)" --method GET --url "$orders" --token "$token" --proof "$post"
bearer=$("$cli" token --key "$key" --iss https://issuer.example --aud https://api.example --sub alice \
  --scope "orders:read")
try public_bearer "ALLOW ok (HTTP 200)" --method GET --url https://api.example/public/x --token "$bearer"
try orders_bearer "DENY binding_required (HTTP 401)" --method GET --url "$orders" --token "$bearer"

if [ $fail -ne 0 ]; then cat "$work/server.log"; exit 1; fi
echo "1 passed, 0 failed"
