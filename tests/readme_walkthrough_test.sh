#!/usr/bin/env bash
# Runs the README's walk-through block, as written, against the real popguard
# binary on a free loopback port (the block's 127.0.0.1:9001 and /tmp paths are
# rewritten to this run's port and temp directory), and checks the outcomes the
# README promises: ALLOW, then dpop_replayed, then bearer_downgrade.
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
# Keep the secrets the block made, to prove none of them reaches the log.
echo 'printf "%s\n%s\n" "${TOKEN:0:60}" "${PROOF:0:60}" >"'"$work"'/secrets"' >>"$work/walkthrough.sh"

cd "$src"
# `check` exits 1 on DENY; the walk-through expects denials, so run it without -e.
bash "$work/walkthrough.sh" >"$work/out.txt" 2>&1 || true
cat "$work/out.txt"

fail=0
grep -q '^ALLOW ok (HTTP 200)' "$work/out.txt" || { echo "FAIL: step 4 did not allow"; fail=1; }
grep -q '^DENY dpop_replayed (HTTP 401)' "$work/out.txt" || { echo "FAIL: step 5 not dpop_replayed"; fail=1; }
grep -q '^DENY bearer_downgrade (HTTP 401)' "$work/out.txt" || { echo "FAIL: step 6 not bearer_downgrade"; fail=1; }
grep -q 'upstream header: x-popguard-binding: dpop' "$work/out.txt" || { echo "FAIL: no binding header"; fail=1; }
# The server log must name reasons, never the token or proof.
[ "$(wc -l <"$work/secrets")" -eq 2 ] || { echo "FAIL: walk-through did not define TOKEN and PROOF"; fail=1; }
if grep -q -F -f "$work/secrets" "$work/server.log"; then echo "FAIL: a token or proof is in the log"; fail=1; fi
if grep -q '"token"\|"proof"' "$work/server.log"; then echo "FAIL: log has token/proof fields"; fail=1; fi
grep -q '"reason":"dpop_replayed"' "$work/server.log" || { echo "FAIL: no deny log line"; fail=1; }
if [ $fail -ne 0 ]; then cat "$work/server.log"; exit 1; fi
echo "1 passed, 0 failed"
