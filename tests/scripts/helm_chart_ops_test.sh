#!/usr/bin/env bash
# How the Helm chart behaves in operation (tests/scripts/helm_chart_test.sh covers
# rendering and schemas):
#   - config changes reload in place: the pod template's only config hash is
#     checksum/restart-config, which changes with the keys popguard reads only
#     at start-up and with nothing else;
#   - a ConfigMap volume update (kubelet's atomic `..data` symlink swap) is
#     picked up by the real popguard binary without a restart, and the DPoP
#     replay window survives it;
#   - liveness is GET /healthz (never a TCP connect), readiness gRPC health
#     or /readyz;
#   - NetworkPolicy egress to Redis (the ports of the addresses) and to the
#     issuers' CIDRs; NOTES warnings; the headless Service; the dashboard
#     ConfigMap for the Grafana sidecar; ci/all-on-values.yaml.
# Usage: helm_chart_ops_test.sh SOURCE_DIR BINARY_DIR
set -uo pipefail
src=$1
bin=$2
py=/usr/bin/python3
chart=$src/helm/popguard
# shellcheck source=testing/report.sh
. "$src/tests/testing/report.sh"
new_work_dir popguard-chartops
on_failure() { [ -f "$work/popguard.log" ] && { echo "--- popguard log"; cat "$work/popguard.log"; }; }

render=$work/helm-render
build_helm_render "$src" "$bin" "$render" || { fail "build scripts/helm-render"; finish; }

# values NAME YAML: writes a values file.
values() { printf '%s\n' "$2" >"$work/$1.yaml"; }
# q NAME PYTHON_EXPR [VALUES...]: renders with the values files named and
# evaluates the expression with docs (list), kind(k) (first doc of a kind),
# dep (the Deployment), notes (NOTES.txt) and pod (its pod template).
q() {
  local expr=$1
  shift
  local args=()
  for v in "$@"; do args+=(-f "$work/$v.yaml"); done
  "$render" "${args[@]}" --notes-out "$work/notes.txt" -o "$work/out.yaml" "$chart" 2>"$work/render.err" ||
    { cat "$work/render.err" >&2; return 2; }
  "$py" - "$work/out.yaml" "$work/notes.txt" "$expr" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
notes = open(sys.argv[2]).read()
def kind(k, n=0):
    found = [d for d in docs if d["kind"] == k]
    return found[n] if len(found) > n else {}
dep = kind("Deployment")
pod = dep["spec"]["template"]
c = pod["spec"]["containers"][0]
result = eval(sys.argv[3])
print(result if not isinstance(result, bool) else ("true" if result else "false"))
PYEOF
}
# is NAME WANT EXPR [VALUES...]: one check that q prints WANT.
is() {
  local name=$1 want=$2
  shift 2
  local got
  got=$(q "$@" 2>&1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name: got '$got', want '$want'"; fi
}

# --- Reload in place: which changes roll the pods --------------------------
hash='pod["metadata"]["annotations"].get("checksum/restart-config")'
is "no checksum/config annotation (config changes do not roll pods)" false \
  '"checksum/config" in pod["metadata"]["annotations"]'
base=$(q "$hash")
values log 'config: {log_level: debug}'
values routes 'config: {routes: [{name: r, match: {path_prefix: /x}, binding: dpop}]}'
values issuers 'config: {issuers: [{issuer: "https://a.example/", audiences: [x], jwks: {keys: []}}]}'
values dpop 'config: {dpop: {max_age: 30s}}'
values cache 'config: {proof_key_cache_entries: 10}'
values labels 'podLabels: {extra: label}'
for v in log routes issuers dpop cache labels; do
  is "restart hash unchanged by a reloadable change ($(cat "$work/$v.yaml"))" "$base" "$hash" "$v"
done
values replay 'config: {replay: {max_entries: 5}}'
values redis 'config: {replay: {backend: redis, redis: {addresses: ["r:6379"]}}}'
values threads 'config: {crypto: {verify_threads: 4}}'
values batch 'config: {crypto: {max_batch: 8}}'
values inflight 'config: {limits: {max_inflight: 10}}'
values grpcmsg 'config: {limits: {max_grpc_message_bytes: 65536}}'
values tokcache 'config: {access_token_cache_entries: 5}'
values port 'containerPorts: {grpc: 9101}'
values tls 'tls: {existingSecret: t}
probes: {mode: http}'
for v in replay redis threads batch inflight grpcmsg tokcache port tls; do
  got=$(q "$hash" "$v")
  if [ -n "$got" ] && [ "$got" != "$base" ]; then
    pass "restart hash changes with a start-up-only key ($(tr '\n' ' ' <"$work/$v.yaml"))"
  else
    fail "restart hash changes with a start-up-only key ($(tr '\n' ' ' <"$work/$v.yaml")): got '$got'"
  fi
done

# --- Probes ----------------------------------------------------------------
live='c["livenessProbe"].get("httpGet")'
is "liveness: GET /healthz on the HTTP port (grpc mode)" "{'path': '/healthz', 'port': 'http-metrics'}" "$live"
is "liveness: GET /healthz on the HTTP port (http mode)" "{'path': '/healthz', 'port': 'http-metrics'}" "$live" tls
is "no probe is a TCP connect" false \
  '"tcpSocket" in c["livenessProbe"] or "tcpSocket" in c["readinessProbe"]'
is "readiness: gRPC health of the whole server" "{'port': 9001, 'service': ''}" 'c["readinessProbe"].get("grpc")'
is "readiness: /readyz in http mode" /readyz 'c["readinessProbe"]["httpGet"]["path"]' tls

# --- Redis and egress ------------------------------------------------------
values egress 'networkPolicy: {enabled: true, egress: {enabled: true}}'
values rcluster 'config: {replay: {backend: redis, redis: {addresses: ["redis-0.r:6379", "redis-1.r:6380", "[fd00::1]:6379"]}}}
networkPolicy: {egress: {redisTo: [{podSelector: {matchLabels: {app: redis}}}]}}'
egress='[ (sorted(p["port"] for p in r.get("ports", [])), [list(t) for t in r.get("to", [])]) for r in kind("NetworkPolicy")["spec"]["egress"] ]'
is "egress: DNS only without Redis or issuers" "[([53, 53], [])]" "$egress" egress
is "egress: the Redis ports of the addresses, to redisTo" \
  "[([53, 53], []), ([6379, 6380], [['podSelector']])]" "$egress" egress rcluster
values issuers_cidr 'networkPolicy: {egress: {issuerCIDRs: [192.0.2.0/24], issuerPorts: [443, 8443]}}'
is "egress: ipBlock to the issuers' CIDRs on issuerPorts" \
  "[([53, 53], []), ([443, 8443], [['ipBlock']])]" "$egress" egress issuers_cidr
values redis_secret 'secrets: {redisPassword: {existingSecret: popguard-redis}}'
is "Redis password file from the Secret in popguard.yaml" "/etc/popguard/secrets/redis/redis-password" \
  'yaml.safe_load(kind("ConfigMap")["data"]["popguard.yaml"])["replay"]["redis"]["password_file"]' \
  rcluster redis_secret
is "Redis key prefix and failure policy in popguard.yaml" "popguard:dpop: fail_closed" \
  '" ".join(str(yaml.safe_load(kind("ConfigMap")["data"]["popguard.yaml"])["replay"]["redis"][k]) for k in ("key_prefix", "failure_policy"))' \
  rcluster

# --- NOTES -----------------------------------------------------------------
values one 'replicaCount: 1'
is "NOTES warn: 2 pods without Redis" true '"WARNING: 2 pods run without Redis" in notes'
is "NOTES: no Redis warning with the redis backend" false '"without Redis" in notes' rcluster
is "NOTES: no Redis warning with one pod" false '"without Redis" in notes' one
values remote 'config: {issuers: [{issuer: "https://a.example/", audiences: [x], jwks_uri: "https://a.example/keys"}]}'
is "NOTES warn: fetched keys with restricted egress and no issuer CIDRs" true \
  '"neither networkPolicy.egress.issuerCIDRs" in notes' egress remote
is "NOTES: no egress warning once issuerCIDRs are set" false \
  '"neither networkPolicy.egress.issuerCIDRs" in notes' egress remote issuers_cidr

# --- Service, dashboard, all-on values -----------------------------------------
values headless 'service: {clusterIP: None}'
is "headless Service (clusterIP: None) for per-pod balancing" None 'kind("Service")["spec"]["clusterIP"]' headless
values dash 'metrics: {grafanaDashboard: {enabled: true, namespace: monitoring}}'
is "dashboard ConfigMap for the Grafana sidecar" "1 monitoring popguard" \
  '" ".join([kind("ConfigMap", 1)["metadata"]["labels"]["grafana_dashboard"], kind("ConfigMap", 1)["metadata"]["namespace"], __import__("json").loads(kind("ConfigMap", 1)["data"]["popguard.json"])["uid"]])' dash
is "no dashboard or PrometheusRule by default" "0 0" \
  '"%d %d" % (len([d for d in docs if d["kind"] == "ConfigMap"]) - 1, len([d for d in docs if d["kind"] == "PrometheusRule"]))'
cp "$chart/ci/all-on-values.yaml" "$work/allon.yaml"
is "all-on values: no system-cluster-critical priority class" false \
  'pod["spec"].get("priorityClassName") == "system-cluster-critical"' allon
is "all-on values: no relabeling of go_* metrics popguard does not export" false \
  '"go_" in str(kind("ServiceMonitor"))' allon

# --- A kubelet ConfigMap update reaches the running binary ----------------------
# kubelet's atomic writer: the files live in a timestamped directory, `..data`
# links to it, and each key is a link through `..data`. An update writes a new
# directory, renames a new link over `..data` and removes the old directory.
cm=$work/configmap
publish() {  # publish DIRNAME: a new timestamped directory becomes ..data
  mkdir -p "$cm/$1"
  cp "$work/next-popguard.yaml" "$cm/$1/popguard.yaml"
  cp "$src/examples/quickstart/jwks.json" "$cm/$1/jwks.json"
  ln -sfn "$1" "$cm/..data_tmp"
  mv -T "$cm/..data_tmp" "$cm/..data"
}
mkdir -p "$cm"
cp "$src/examples/quickstart/popguard.yaml" "$work/next-popguard.yaml"
publish ..2026_01_01_00_00_00.000000001
ln -s ..data/popguard.yaml "$cm/popguard.yaml"
ln -s ..data/jwks.json "$cm/jwks.json"
"$bin/popguard" --config "$cm/popguard.yaml" --listen 127.0.0.1:0 >"$work/popguard.log" 2>&1 &
pids+=($!)
pg_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/popguard.log" | grep -o '[0-9]*$')
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] && pass "popguard started from a ConfigMap-style volume" || { fail "popguard started"; finish; }
CLI=$bin/popguard-cli
KEY=$src/examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk
"$CLI" keygen --alg ES256 --out "$work/client.jwk" >/dev/null
BEARER=$("$CLI" token --key "$KEY" --iss https://issuer.example --aud https://api.example --sub alice --typ at+jwt)
BOUND=$("$CLI" token --key "$KEY" --iss https://issuer.example --aud https://api.example --sub alice --typ at+jwt \
  --dpop-key "$work/client.jwk")
PROOF=$("$CLI" proof --key "$work/client.jwk" --method GET --url https://api.example/orders --token "$BOUND")
# decide URL TOKEN [PROOF]: the first line of popguard-cli check.
decide() {
  "$CLI" check --addr "127.0.0.1:$port" --method GET --url "$1" --token "$2" ${3:+--proof "$3"} 2>&1 | head -n1
}
want() { if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: got '$2', want '$3'"; fi; }
want "before the update, bearer on /public" "$(decide https://api.example/public/x "$BEARER")" "ALLOW ok (HTTP 200)"
want "before the update, a fresh DPoP proof" "$(decide https://api.example/orders "$BOUND" "$PROOF")" "ALLOW ok (HTTP 200)"
# The update: the public route now needs DPoP.
sed 's/^    binding: bearer$/    binding: dpop/' "$src/examples/quickstart/popguard.yaml" >"$work/next-popguard.yaml"
grep -q 'binding: dpop' "$work/next-popguard.yaml" || fail "test setup: the quick-start public route changed"
publish ..2026_01_01_00_01_00.000000002
rm -rf "$cm/..2026_01_01_00_00_00.000000001"
reloaded=0
for _ in $(seq 1 100); do
  grep -q '"event":"config_reloaded".*"trigger":"file_change"' "$work/popguard.log" && { reloaded=1; break; }
  sleep 0.1
done
[ $reloaded -eq 1 ] && pass "the ..data swap is seen: config_reloaded (file_change)" ||
  fail "the ..data swap is seen: config_reloaded (file_change)"
want "after the update, bearer on /public" "$(decide https://api.example/public/x "$BEARER")" \
  "DENY binding_required (HTTP 401)"
want "after the update, the same proof (replay window kept)" "$(decide https://api.example/orders "$BOUND" "$PROOF")" \
  "DENY dpop_replayed (HTTP 401)"
if kill -0 "$pg_pid" 2>/dev/null && [ "$(grep -c '"event":"listening"' "$work/popguard.log")" = 1 ]; then
  pass "no restart: the same process, listening once"
else
  fail "no restart: the same process, listening once"
fi
finish
