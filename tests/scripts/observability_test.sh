#!/usr/bin/env bash
# The chart's Grafana dashboard and PrometheusRule against a live popguard.
#   1. Renders helm/popguard with metrics.grafanaDashboard and
#      metrics.prometheusRule on (scripts/helm-render) and runs
#      `promtool check rules` on the rendered PrometheusRule's groups and on
#      every dashboard query (as recording rules, Grafana's variables replaced).
#   2. Starts the real popguard on free loopback ports with every metric
#      source switched on: a Redis replay window (real redis-server), an
#      issuer whose keys are fetched (jwks_uri from a local HTTP server), a
#      report-only route; sends one ALLOW, one DENY and one report-only
#      request; scrapes /metrics and runs `promtool check metrics` on it.
#   3. Checks that every popguard_* and process_* name in the rules and the dashboard has
#      samples in that scrape (histograms through _bucket/_sum/_count), that
#      queries name no other metric, and that docs/metrics.md lists exactly the
#      families the scrape has, and docs/troubleshooting.md every reason code.
# Usage: observability_test.sh SOURCE_DIR BINARY_DIR
set -uo pipefail
src=$1
bin=$2
py=/usr/bin/python3
chart=$src/helm/popguard
# shellcheck source=testing/report.sh
. "$src/tests/testing/report.sh"
new_work_dir popguard-obs
on_failure() {
  for f in popguard redis jwks; do
    [ -f "$work/$f.log" ] && { echo "--- $f log"; tail -n 40 "$work/$f.log"; }
  done
}

# check NAME CMD...: one test that passes when CMD exits 0.
check() {
  local name=$1
  shift
  if "$@" >"$work/last.log" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$work/last.log"; fi
}

command -v promtool >/dev/null || { fail "promtool installed (Debian package prometheus)"; finish; }

# --- 1. Render the chart's dashboard and rules ------------------------------
render=$work/helm-render
build_helm_render "$src" "$bin" "$render" || { fail "build scripts/helm-render"; finish; }
cat >"$work/values.yaml" <<'YAML'
metrics:
  grafanaDashboard: {enabled: true}
  prometheusRule: {enabled: true, labels: {release: prometheus}}
YAML
check "chart renders with the dashboard and the PrometheusRule" \
  "$render" -f "$work/values.yaml" -o "$work/manifests.yaml" "$chart"
# Writes rules.yaml (the PrometheusRule's spec), dashboard.json (from the
# ConfigMap), dashboard-rules.yaml (each dashboard query as a recording rule)
# and exprs.txt (every query, rules first), or says what is missing.
"$py" - "$work" "$chart/dashboards/popguard.json" >"$work/extract.log" 2>&1 <<'PYEOF'
import json, sys, yaml
work, shipped = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(f"{work}/manifests.yaml")) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
dash = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
assert len(rules) == 1, f"{len(rules)} PrometheusRule documents"
assert len(dash) == 1, f"{len(dash)} dashboard ConfigMaps"
spec = rules[0]["spec"]
assert set(spec) == {"groups"}, f"PrometheusRule spec keys {sorted(spec)}"
yaml.safe_dump(spec, open(f"{work}/rules.yaml", "w"))
board = json.loads(dash[0]["data"]["popguard.json"])
assert board == json.load(open(shipped)), "dashboard ConfigMap differs from dashboards/popguard.json"
json.dump(board, open(f"{work}/dashboard.json", "w"))
exprs = [r["expr"] for g in spec["groups"] for r in g["rules"]]
queries = []
def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "definition") and isinstance(v, str):
                queries.append(v)
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
walk(board)
assert queries, "no queries in the dashboard"
# Grafana's variables, replaced by what they expand to, so promtool parses them.
subst = {"$__rate_interval": "5m", "$namespace": ".*", "$pod": ".*"}
recording = []
for i, q in enumerate(queries):
    if q.startswith("label_values("):
        q = q[len("label_values("):q.rindex(",")]  # the series selector
    for k, v in subst.items():
        q = q.replace(k, v)
    recording.append({"record": f"dashboard:query_{i}", "expr": q})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]}, open(f"{work}/dashboard-rules.yaml", "w"))
with open(f"{work}/exprs.txt", "w") as f:
    for e in exprs + [r["expr"] for r in recording]:
        f.write(json.dumps(e) + "\n")
print(f"{len(exprs)} rules, {len(queries)} dashboard queries")
PYEOF
if [ $? -eq 0 ]; then
  pass "PrometheusRule and dashboard extracted: $(tail -n1 "$work/extract.log")"
else
  cat "$work/extract.log"
  fail "PrometheusRule and dashboard extracted"
  finish
fi
check "promtool check rules: the rendered PrometheusRule" promtool check rules "$work/rules.yaml"
check "promtool check rules: every dashboard query parses as PromQL" promtool check rules "$work/dashboard-rules.yaml"

# --- 2. A live popguard with every metric source ----------------------------
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for TRIES CMD...: retries CMD every 0.1 s.
wait_for() {
  local n=$1
  shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

redis_port=""
for _ in 1 2 3; do  # a probed port can be taken before redis binds it
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  pid=$!
  if wait_for 50 redis-cli -p "$port" ping; then pids+=("$pid"); redis_port=$port; break; fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
done
[ -n "$redis_port" ] && pass "redis-server on 127.0.0.1:$redis_port" || { fail "redis-server started"; finish; }

mkdir -p "$work/www"
cp "$src/examples/quickstart/jwks.json" "$work/www/jwks.json"
(cd "$work/www" && exec "$py" -u -m http.server --bind 127.0.0.1 0) >"$work/jwks.log" 2>&1 &
pids+=($!)
wait_for 100 grep -q "Serving HTTP" "$work/jwks.log"
jwks_port=$(grep -o 'port [0-9]*' "$work/jwks.log" | head -n1 | grep -o '[0-9]*')
[ -n "$jwks_port" ] && pass "JWKS server on 127.0.0.1:$jwks_port" || { fail "JWKS server started"; finish; }

cat >"$work/popguard.yaml" <<YAML
log_level: info
issuers:
  - issuer: https://issuer.example
    jwks_file: $src/examples/quickstart/jwks.json
    audiences: [https://api.example]
  - issuer: https://fetched.example
    jwks_uri: http://127.0.0.1:$jwks_port/jwks.json
    allow_http: true
    audiences: [https://api.example]
routes:
  - {name: public, match: {path_prefix: /public}, binding: bearer}
  - {name: legacy, match: {path_prefix: /legacy}, binding: dpop, report_only: true}
default_binding: bound
replay:
  backend: redis
  # local_fallback: the pod's own window exists too (popguard_replay_window_*).
  redis: {addresses: ["127.0.0.1:$redis_port"], failure_policy: local_fallback}
# The Redis revocation list: its families (popguard_revocation_*) have series.
revocation: {redis: true}
metrics: {listen: "127.0.0.1:0"}
YAML
"$bin/popguard" --config "$work/popguard.yaml" --listen 127.0.0.1:0 >"$work/popguard.log" 2>&1 &
pids+=($!)
wait_for 200 grep -q '"event":"listening"' "$work/popguard.log"
grpc_port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/popguard.log" | grep -o '[0-9]*$')
http_port=$(grep -o '"event":"metrics_listening".*"port":[0-9]*' "$work/popguard.log" | grep -o '[0-9]*$')
if [ -n "$grpc_port" ] && [ -n "$http_port" ]; then
  pass "popguard started (gRPC $grpc_port, HTTP $http_port)"
else
  fail "popguard started"
  finish
fi
check "popguard ready: fetched keys and Redis (/readyz 200)" \
  wait_for 200 curl -sf "http://127.0.0.1:$http_port/readyz"

CLI=$bin/popguard-cli
TOKEN=$("$CLI" token --key "$src/examples/quickstart/demo-issuer-key.DEMO-ONLY.jwk" --iss https://issuer.example \
  --aud https://api.example --sub alice)
ask() { "$CLI" check --addr "127.0.0.1:$grpc_port" --method GET --url "https://api.example$1" --token "$TOKEN"; }
check "one ALLOW" ask /public/items
ask_denied() { ask "$1" >"$work/deny.txt"; [ $? -eq 1 ] && grep -q '^DENY binding_required' "$work/deny.txt"; }
check "one DENY (binding_required)" ask_denied /orders
check "one report-only request" ask /legacy/items

curl -sf "http://127.0.0.1:$http_port/metrics" >"$work/metrics.txt"
check "scraped /metrics" test -s "$work/metrics.txt"
check "promtool check metrics: the live scrape" bash -c "promtool check metrics <'$work/metrics.txt'"

# --- 3. Every name the dashboard and the rules use is in the scrape --------
# check_names EXPRS: one PASS/FAIL line per metric name in the queries.
check_names() {
  "$py" - "$work/metrics.txt" "$1" <<'PYEOF'
import json, re, sys
scrape, exprs = sys.argv[1], sys.argv[2]
samples = set()
for line in open(scrape):
    if line and not line.startswith("#"):
        samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
keywords = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "by", "without", "on", "ignoring",
            "group_left", "group_right", "and", "or", "unless", "offset", "histogram_quantile", "bool",
            "label_values", "humanize", "le", "time"}
used, other = set(), set()
for line in open(exprs):
    e = json.loads(line)
    e = re.sub(r'"[^"]*"', '""', e)        # label values
    e = re.sub(r"\{[^}]*\}", "{}", e)       # matchers
    e = re.sub(r"\[[^\]]*\]", "[]", e)      # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right) *\([^)]*\)", "", e)  # label lists
    for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if name.startswith(("popguard_", "process_")):
            used.add(name)
        elif name not in keywords and not re.fullmatch(r"[0-9e]+|m|h|s", name):
            other.add(name)
for name in sorted(used):
    print("PASS" if name in samples else "FAIL", name)
for name in sorted(other):
    print("FAIL", f"{name} (not a popguard metric)")
PYEOF
}
while read -r verdict name rest; do
  if [ "$verdict" = PASS ]; then pass "in the live scrape: $name"; else fail "in the live scrape: $name $rest"; fi
done < <(check_names "$work/exprs.txt")
# The check itself: a made-up name and a foreign metric must be refused.
printf '%s\n' '"rate(popguard_made_up_total[5m])"' '"sum(go_goroutines)"' >"$work/bogus.txt"
bogus=$(check_names "$work/bogus.txt" | grep -c '^FAIL')
check "the name check refuses a made-up and a foreign metric" test "$bogus" -eq 2

# docs/metrics.md lists exactly the families the scrape has (a `### name` each).
families=$(grep -E '^# TYPE (popguard|process)_' "$work/metrics.txt" | awk '{print $3}' | sort)
documented=$(grep -oE '^### `(popguard|process)_[a-z0-9_]*`' "$src/docs/metrics.md" | tr -d '#` ' | sort)
check "docs/metrics.md documents every exported family" \
  bash -c "comm -23 <(echo '$families') <(echo '$documented') | tee /dev/stderr | wc -l | grep -qx 0"
check "docs/metrics.md documents no family popguard does not export" \
  bash -c "comm -13 <(echo '$families') <(echo '$documented') | tee /dev/stderr | wc -l | grep -qx 0"

# docs/troubleshooting.md explains every reason code of the README's table.
check "docs/troubleshooting.md covers every reason code" "$py" -c '
import re, sys
readme = open(sys.argv[1]).read()
table = readme[readme.index("## Reason codes"):readme.index("## Configuration")]
codes = [c for c in re.findall(r"^\| `([a-z_]+)` \|", table, re.M) if c != "ok"]
doc = open(sys.argv[2]).read()
missing = [c for c in codes if "`%s`" % c not in doc]
print(len(codes), "codes; missing:", missing)
sys.exit(1 if missing or len(codes) < 60 else 0)' "$src/README.md" "$src/docs/troubleshooting.md"
finish
