#!/usr/bin/env bash
# Renders helm/popguard offline and checks the result, since Helm itself cannot
# be installed on these machines:
#   1. builds scripts/helm-render (Go text/template + sprig + sigs.k8s.io/yaml,
#      the libraries Helm uses) into the build directory and checks that it
#      behaves like Helm where charts usually go wrong (float64 numbers, toYaml,
#      include/tpl/required, value merging, kubeVersion);
#   2. renders the chart with its default values and with every
#      helm/popguard/ci/*.yaml, validates the merged values against
#      values.schema.json and every document against the Kubernetes 1.32 schema
#      of its kind (../shared/k8s-schemas), and checks hardening fields and
#      cross-references (scripts/helm-render/check_manifests.py);
#   3. runs the real popguard binary with --check_config on each rendered
#      popguard.yaml, with the files it names created in a temp directory;
#   4. checks that schema-invalid values and contradictory values are refused.
# Every check counts: a checker that exits non-zero, prints fewer results than
# it has checks, or a missing input file is a failure, never a silent pass.
# Usage: helm_chart_test.sh SOURCE_DIR BINARY_DIR SHARED_DIR
set -uo pipefail
src=$1
bin=$2
shared=$3
chart=$src/helm/popguard
schemas=$shared/k8s-schemas/v1.32.2-standalone-strict
py=/usr/bin/python3
checker=$src/scripts/helm-render/check_manifests.py
render=$bin/helm-render
work=$(mktemp -d /tmp/popguard-helm.XXXXXX)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# check NAME -- CMD...: one test that passes when CMD exits 0.
check() {
  local name=$1
  shift 2
  if "$@" >"$work/last.log" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$work/last.log"; fi
}

# run_checker ARGS...: runs check_manifests.py and counts its PASS/FAIL lines.
# It exits 1 exactly when a check failed; any other status, or no result at
# all, means it crashed or checked nothing.
run_checker() {
  local out rc npass nfail
  out=$("$py" "$checker" "$@" 2>&1)
  rc=$?
  echo "$out" | grep -v '^PASS' || true
  npass=$(echo "$out" | grep -c '^PASS')
  nfail=$(echo "$out" | grep -c '^FAIL')
  passed=$((passed + npass))
  failed=$((failed + nfail))
  if [ $((npass + nfail)) -eq 0 ] || { [ $rc -ne 0 ] && [ "$nfail" -eq 0 ]; } ||
      { [ $rc -eq 0 ] && [ "$nfail" -ne 0 ]; }; then
    fail "check_manifests.py $* crashed or checked nothing (exit $rc)"
  fi
}

# tally PREFIX EXPECTED RC OUTPUT: counts the "PASS name" / "FAIL name" lines
# of an inline checker. A non-zero exit or a number of results other than
# EXPECTED (a crash half way makes checks vanish) is a failure of its own.
tally() {
  local prefix=$1 expected=$2 rc=$3 out=$4 n=0 verdict name
  while read -r verdict name; do
    case "$verdict" in
      PASS) pass "$prefix$name"; n=$((n + 1)) ;;
      FAIL) fail "$prefix$name"; n=$((n + 1)) ;;
      *) [ -z "$verdict" ] || echo "    $verdict $name" ;;
    esac
  done <<<"$out"
  [ "$rc" -eq 0 ] || fail "${prefix}checker exited with $rc"
  [ "$n" -eq "$expected" ] || fail "${prefix}checker gave $n results, expected $expected"
}

# --- 1. Build the renderer -------------------------------------------------
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$bin/helm-render-gocache GOFLAGS=
if ! (cd "$src/scripts/helm-render" && go build -o "$render" .) >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  fail "build scripts/helm-render (needs golang-go, golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev)"
  summary
  exit 1
fi
pass "build scripts/helm-render"

# --- 1b. Renderer fidelity on a scratch chart --------------------------------
fid=$work/fidelity
mkdir -p "$fid/templates"
cat >"$fid/Chart.yaml" <<'EOF'
apiVersion: v2
name: fid
version: 0.1.0
appVersion: "1.0"
kubeVersion: ">=1.24.0-0"
EOF
cat >"$fid/values.yaml" <<'EOF'
big: 1000000
small: 3
nested: {z: 1, keep: a, drop: b, a: 2}
EOF
cat >"$fid/templates/_helpers.tpl" <<'EOF'
{{- define "fid.x" -}}X{{ .Values.small }}{{- end }}
EOF
cat >"$fid/templates/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  namespace: {{ .Release.Namespace }}
data:
  big: {{ .Values.big | quote }}
  bigint: {{ int64 .Values.big | quote }}
  yaml: {{ toYaml .Values.nested | quote }}
  quoted: {{ toYaml (list "y" "1.0" "on" "x") | quote }}
  include: {{ include "fid.x" . | quote }}
  tpl: {{ tpl "{{ .Release.Name }}/{{ .Values.small }}" . | quote }}
  service: {{ .Release.Service | quote }}
  install: {{ .Release.IsInstall | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  hasapps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}
  missing: "{{ .Values.nope }}"
  json: {{ toJson .Values.nested | quote }}
  fromyaml: {{ (fromYaml "a: 1").a | quote }}
  appversion: {{ .Chart.AppVersion | quote }}
EOF
cat >"$work/fid-override.yaml" <<'EOF'
small: 4
nested: {drop: null}
EOF
if "$render" --name rel --namespace ns -f "$work/fid-override.yaml" "$fid" >"$work/fid.yaml" 2>"$work/fid.err"; then
  pass "fidelity: scratch chart renders"
  cat >"$work/fid-expect.json" <<'EOF'
{"big": "1e+06", "bigint": "1000000", "yaml": "a: 2\nkeep: a\nz: 1",
 "quoted": "- \"y\"\n- \"1.0\"\n- \"on\"\n- x", "include": "X4", "tpl": "rel/4",
 "service": "Helm", "install": "true", "kube": "v1.32.2", "hasapps": "true",
 "missing": "", "json": "{\"a\":2,\"keep\":\"a\",\"z\":1}", "fromyaml": "1", "appversion": "1.0"}
EOF
  # One check per key, so a difference names the Helm behaviour that broke.
  out=$("$py" - "$work/fid.yaml" "$work/fid-expect.json" 2>&1 <<'EOF'
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
print("PASS" if doc["metadata"] == {"name": "rel-fid", "namespace": "ns"} else "FAIL", "metadata", doc["metadata"])
for k, v in want.items():
    got = doc["data"].get(k)
    print("PASS" if got == v else "FAIL", k, "" if got == v else f"got {got!r}, want {v!r}")
EOF
)
  rc=$?
  # metadata plus one check per key of fid-expect.json (14).
  tally "fidelity: " 15 "$rc" "$out"
else
  cat "$work/fid.err"
  fail "fidelity: scratch chart renders"
fi
cat >"$fid/templates/req.yaml" <<'EOF'
{{- required "token.audience is required" .Values.audience }}
EOF
check "fidelity: required fails with its message" -- \
  bash -c "! '$render' '$fid' >/dev/null 2>'$work/req.err' && grep -q 'token.audience is required' '$work/req.err'"
rm "$fid/templates/req.yaml"
check "fidelity: chart kubeVersion is enforced" -- \
  bash -c "'$render' --kube-version v1.23.0 '$fid' 2>&1 | grep -q 'incompatible with Kubernetes v1.23.0'"

# --- 2 and 3. The chart with default values and every ci/ file -------------
# Files the rendered configs may name, created once.
fx=$work/fixtures
mkdir -p "$fx"
cat >"$fx/jwks.json" <<'EOF'
{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "test", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}
EOF
head -c 32 /dev/urandom >"$fx/nonce.key"
printf 'test-only-password' >"$fx/redis-password"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=popguard.test -days 1 \
  -keyout "$fx/tls.key" -out "$fx/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a test certificate"

# prepare_file PATH: creates a file a rendered config refers to.
prepare_file() {
  local p=$1
  mkdir -p "$(dirname "$p")"
  case "$p" in
    */secrets/dpop-nonce/*) cp "$fx/nonce.key" "$p" ;;
    */secrets/redis/*) cp "$fx/redis-password" "$p" ;;
    */tls/tls.crt | */tls/ca.crt | *.pem | *.crt) cp "$fx/tls.crt" "$p" ;;
    */tls/tls.key) cp "$fx/tls.key" "$p" ;;
    *.json) cp "$fx/jwks.json" "$p" ;;
    *) echo "unknown file referenced by the config: $p"; return 1 ;;
  esac
}

# Every rendered popguard.yaml is checked whole: the binary supports metrics
# and the Redis replay backend, so nothing is stripped before --check_config.

value_sets=(default)
for f in "$chart"/ci/*.yaml; do value_sets+=("$f"); done
for vs in "${value_sets[@]}"; do
  name=$(basename "$vs" .yaml)
  args=()
  [ "$vs" = default ] || args=(-f "$vs")
  out=$work/$name
  mkdir -p "$out"
  if ! "$render" "${args[@]}" --namespace popguard --values-out "$out/values.json" \
      --notes-out "$out/NOTES.txt" -o "$out/manifests.yaml" "$chart" 2>"$out/render.err"; then
    cat "$out/render.err"
    fail "$name: renders"
    continue
  fi
  pass "$name: renders"
  run_checker --prefix "$name: " values --schema "$chart/values.schema.json" --values "$out/values.json"
  run_checker --prefix "$name: " manifests --schema-dir "$schemas" --values "$out/values.json" \
    --manifests "$out/manifests.yaml"
  check "$name: NOTES.txt names the gRPC address" -- \
    grep -q "svc.cluster.local:[0-9]" "$out/NOTES.txt"

  # The rendered popguard.yaml, paths moved under $out/root, checked by the binary.
  if "$py" "$checker" config --manifests "$out/manifests.yaml" --out "$out/popguard.yaml" \
      --root "$out/root" >"$out/files.txt"; then
    ok=1
    while read -r tag file; do
      [ "$tag" = FILE ] && { prepare_file "$file" || ok=0; }
    done <"$out/files.txt"
    if [ $ok -eq 1 ] && "$bin/popguard" --check_config --log_level info --config "$out/popguard.yaml" >"$out/check.log" 2>&1 \
        && grep -q '"event":"config_ok"' "$out/check.log"; then
      pass "$name: popguard --check_config accepts the rendered popguard.yaml"
    else
      cat "$out/check.log" 2>/dev/null
      fail "$name: popguard --check_config accepts the rendered popguard.yaml"
    fi
  else
    fail "$name: ConfigMap popguard.yaml extracted"
  fi
done

# NOTES.txt warns while the placeholder issuer is configured, and only then.
check "default values: NOTES.txt warns about the placeholder issuer" -- \
  grep -q "placeholder issuer" "$work/default/NOTES.txt"
# (test -s first: a missing NOTES.txt must fail, not pass as "no warning".)
check "minimal values: no placeholder warning" -- \
  bash -c "test -s '$work/minimal-values/NOTES.txt' && ! grep -q 'placeholder issuer' '$work/minimal-values/NOTES.txt'"

# --- Chart behaviour that needs two renders or a specific value ------------
# (Which config changes roll the pods: tests/scripts/helm_chart_ops_test.sh.)
printf 'replicaCount: 1\nautoscaling: {enabled: true, minReplicas: 2}\n' >"$work/hpa-pdb.yaml"
check "PDB rendered for replicaCount 1 when autoscaling.minReplicas is 2" -- \
  bash -c "'$render' -f '$work/hpa-pdb.yaml' '$chart' | grep -q '^kind: PodDisruptionBudget'"
printf 'config: {replay: {max_entries: 1000000}, access_token_cache_entries: 10000000}\n' >"$work/big.yaml"
check "large integers render as integers in popguard.yaml (no 1e+06)" -- \
  bash -c "'$render' -f '$work/big.yaml' '$chart' | grep -q '^ *max_entries: 1000000$' && \
           '$render' -f '$work/big.yaml' '$chart' | grep -q '^ *access_token_cache_entries: 10000000$'"

# --- Deployment examples: the settings the README promises -----------------
# Envoy and Istio cannot run here; their files are parsed and the fields that
# decide security are checked (fail closed, peer certificate, per-route
# switches, the provider the AuthorizationPolicy names).
out=$("$py" - "$src/examples" 2>&1 <<'EOF'
import sys, yaml
ex = sys.argv[1]
def check(name, ok):
    print("PASS" if ok else "FAIL", name)
def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)
envoy = yaml.safe_load(open(f"{ex}/envoy/envoy.yaml"))
nodes = list(walk(envoy))
authz = [n for n in nodes if n.get("name") == "envoy.filters.http.ext_authz" and "typed_config" in n]
cfg = authz[0]["typed_config"] if authz else {}
http_filters = [n.get("name") for n in nodes if str(n.get("name", "")).startswith("envoy.filters.http.")]
check("envoy: one ext_authz filter, before the router",
      len(authz) == 1 and http_filters[-1] == "envoy.filters.http.router")
check("envoy: failure_mode_allow false", cfg.get("failure_mode_allow") is False)
check("envoy: include_peer_certificate true", cfg.get("include_peer_certificate") is True)
check("envoy: transport_api_version V3", cfg.get("transport_api_version") == "V3")
check("envoy: no request body sent", "with_request_body" not in cfg)
svc = cfg.get("grpc_service", {})
check("envoy: gRPC service popguard with a timeout",
      svc.get("envoy_grpc", {}).get("cluster_name") == "popguard" and "timeout" in svc)
per_route = [n for n in nodes if str(n.get("@type", "")).endswith("ExtAuthzPerRoute")]
check("envoy: a route with ext_authz disabled", any(n.get("disabled") is True for n in per_route))
check("envoy: a route passing popguard_route",
      any(n.get("check_settings", {}).get("context_extensions", {}).get("popguard_route") for n in per_route))
tls = [n for n in nodes if str(n.get("@type", "")).endswith("DownstreamTlsContext")]
check("envoy: TLS listener, client certificates optional",
      len(tls) == 1 and tls[0].get("require_client_certificate") is False
      and "validation_context" in tls[0]["common_tls_context"])
clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
check("envoy: popguard cluster speaks HTTP/2", "http2_protocol_options" in str(clusters.get("popguard", {})))
mesh = yaml.safe_load(open(f"{ex}/istio/mesh-config.yaml"))
grpc = [p for p in mesh["spec"]["meshConfig"]["extensionProviders"] if "envoyExtAuthzGrpc" in p]
check("istio: gRPC ext_authz provider, fail closed",
      len(grpc) == 1 and grpc[0]["envoyExtAuthzGrpc"].get("failOpen") is False)
policy = yaml.safe_load(open(f"{ex}/istio/authorization-policy.yaml"))
check("istio: AuthorizationPolicy with action CUSTOM names the provider",
      policy["kind"] == "AuthorizationPolicy" and policy["spec"]["action"] == "CUSTOM"
      and len(grpc) == 1 and policy["spec"]["provider"]["name"] == grpc[0]["name"])
ingress = yaml.safe_load(open(f"{ex}/istio/ingress-gateway-policy.yaml"))
check("istio: ingress-gateway placement, CUSTOM on the gateway in istio-system",
      ingress["kind"] == "AuthorizationPolicy" and ingress["spec"]["action"] == "CUSTOM"
      and ingress["metadata"]["namespace"] == "istio-system"
      and ingress["spec"]["selector"]["matchLabels"].get("istio") == "ingressgateway"
      and len(grpc) == 1 and ingress["spec"]["provider"]["name"] == grpc[0]["name"])
# With the policy on a workload, its sidecar calls popguard: the all-on
# values' NetworkPolicy must admit the workload the example selects, and read
# the two-element x-forwarded-client-cert the sidecar forwards.
allon = yaml.safe_load(open(f"{ex}/../helm/popguard/ci/all-on-values.yaml"))
sel = policy["spec"]["selector"]["matchLabels"]
ns = policy["metadata"]["namespace"]
check("istio: all-on NetworkPolicy admits the selected workload's sidecars",
      any(p.get("podSelector", {}).get("matchLabels") == sel
          and p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == ns
          for p in allon["networkPolicy"]["grpcFrom"]))
xfcc = allon["config"].get("xfcc", {})
check("istio: all-on reads the sidecar's XFCC shape from a trusted gateway",
      allon["config"].get("trusted_xfcc") is True and xfcc.get("element") == "before_trusted_peer"
      and all(p.startswith("spiffe://") for p in xfcc.get("trusted_peers", [])))
eg = list(yaml.safe_load_all(open(f"{ex}/envoy-gateway/security-policy.yaml")))
sp = [d for d in eg if d["kind"] == "SecurityPolicy"]
ext = sp[0]["spec"].get("extAuth", {}) if sp else {}
refs = ext.get("grpc", {}).get("backendRefs", [])
grant = [d for d in eg if d["kind"] == "ReferenceGrant"]
check("envoy-gateway: SecurityPolicy extAuth over gRPC to popguard:9001, fail closed, granted",
      len(sp) == 1 and ext.get("failOpen") is False and len(refs) == 1
      and refs[0]["name"] == "popguard" and refs[0]["port"] == 9001
      and len(grant) == 1 and grant[0]["metadata"]["namespace"] == refs[0]["namespace"]
      and grant[0]["spec"]["from"][0]["namespace"] == sp[0]["metadata"]["namespace"])
EOF
)
rc=$?
tally "" 16 "$rc" "$out"  # the 16 check() calls above

# --- 4. Refusals -------------------------------------------------------------
# Values that values.schema.json must reject (helm install would stop here).
bad_values=(
  'replicaCount: "3"'
  'replicas: 3'
  'config: {log_level: verbose}'
  'config: {listen: "0.0.0.0:1"}'
  'metrics: {enabled: "yes"}'
  'probes: {mode: exec}'
  'probes: {mode: tcp}'
  'config: {dpop: {max_age: 1.5s}}'
  'config: {replay: {redis: {failure_policy: fail_open}}}'
  'config: {issuers: [{issuer: "https://a.example/", jwks_file: /x.json}]}'
  'config: {issuers: [{issuer: "https://a.example/", audiences: [a], jwks_file: /x.json, jwks: {keys: []}}]}'
  'config: {routes: [{name: r, binding: strict}]}'
  'image: {digest: latest}'
  'containerPorts: {grpc: 70000}'
  'podDisruptionBudget: {maxUnavailable: half}'
)
i=0
for bad in "${bad_values[@]}"; do
  i=$((i + 1))
  printf '%s\n' "$bad" >"$work/bad$i.yaml"
  if "$render" -f "$work/bad$i.yaml" --values-out "$work/bad$i.json" -o /dev/null "$chart" 2>/dev/null ||
      [ -s "$work/bad$i.json" ]; then
    if "$py" "$checker" values --schema "$chart/values.schema.json" --values "$work/bad$i.json" >"$work/bad$i.log" 2>&1; then
      fail "schema rejects: $bad"
    elif grep -q '^FAIL' "$work/bad$i.log"; then
      pass "schema rejects: $bad -> $(grep -m1 '^FAIL' "$work/bad$i.log" | cut -d: -f2- | cut -c1-110)"
    else
      cat "$work/bad$i.log"
      fail "schema rejects: $bad (checker crashed)"
    fi
  else
    fail "schema rejects: $bad (could not merge values)"
  fi
done

# Combinations the templates refuse with fail(), each with the message a user needs.
refusals=(
  'metrics: {enabled: false}|liveness probe (GET /healthz)'
  'tls: {existingSecret: t}|kubelet gRPC probes do not speak TLS'
  'config: {dpop: {nonce: {required: true}}}|needs secrets.dpopNonce.existingSecret'
  'config: {replay: {backend: redis}}|needs config.replay.redis.addresses'
  'config: {replay: {backend: redis, redis: {addresses: ["r:6379"], username: u}}}|username needs secrets.redisPassword.existingSecret'
  'config: {replay: {backend: redis, redis: {addresses: ["a:6379", "b:6379"], database: 1}}}|must be 0 with several addresses'
  'autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}|maxReplicas must be >= autoscaling.minReplicas'
)
i=0
for r in "${refusals[@]}"; do
  i=$((i + 1))
  printf '%s\n' "${r%%|*}" >"$work/refuse$i.yaml"
  if "$render" -f "$work/refuse$i.yaml" -o /dev/null "$chart" >"$work/refuse$i.log" 2>&1; then
    fail "render refuses: ${r%%|*}"
  elif grep -qF "${r#*|}" "$work/refuse$i.log"; then
    pass "render refuses: ${r%%|*}"
  else
    cat "$work/refuse$i.log"
    fail "render refuses: ${r%%|*} (wrong message)"
  fi
done

summary
