#!/usr/bin/python3
"""check_manifests: offline checks of a chart rendered by helm-render.

Used by tests/scripts/helm_chart_test.sh; run with Debian's /usr/bin/python3
(python3-jsonschema 4.10, python3-yaml). Every check prints one line,
"PASS <name>" or "FAIL <name>: <why>", and the exit status is 1 when any
check failed.

  check_manifests.py values  --schema values.schema.json --values merged.json
      Validates the merged values (helm-render --values-out) against the
      chart's values.schema.json, as `helm install` does before rendering.
  check_manifests.py manifests --schema-dir DIR --values merged.json --manifests out.yaml
      Validates every document against the Kubernetes schema for its kind in
      DIR (unknown kinds fail), then checks what schemas cannot: hardening
      fields, selectors matching pod labels, names that refer to each other.
  check_manifests.py config --manifests out.yaml --out popguard.yaml --root DIR
      Writes the ConfigMap's popguard.yaml with every /etc/popguard/ path moved
      under DIR, so the real binary can check it (--check_config); prints the
      moved paths, one per line, so the caller can create the files.
  check_manifests.py strip --config popguard.yaml --drop metrics|redis
      Removes a part the binary under test does not know yet (see the test).
"""

import argparse
import json
import os
import re
import sys

import jsonschema
import yaml

# Kind -> schema file in the standalone-strict directory.
SCHEMAS = {
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("v1", "Secret"): "secret-v1.json",
    ("v1", "Service"): "service-v1.json",
    ("v1", "ServiceAccount"): "serviceaccount-v1.json",
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscaler-autoscaling-v2.json",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudget-policy-v1.json",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicy-networking-v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
}

CHART_ROOT = "/etc/popguard/"


class Report:
    """Report collects PASS/FAIL lines."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            print(f"PASS {self.prefix}{name}")
        else:
            self.failed += 1
            print(f"FAIL {self.prefix}{name}: {why}")
        return ok


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def schema_errors(schema, doc):
    """schema_errors returns "path: message" for every violation."""
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return ["/" + "/".join(map(str, e.absolute_path)) + ": " + e.message
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def cmd_values(args, r):
    with open(args.schema) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    with open(args.values) as f:
        values = json.load(f)
    errors = schema_errors(schema, values)
    r.check("values match values.schema.json", not errors, "; ".join(errors[:5]))


def is_dashboard(doc):
    """True for the optional Grafana dashboard ConfigMap (not popguard.yaml)."""
    return doc.get("kind") == "ConfigMap" and dig(doc, "metadata", "labels", "grafana_dashboard") == "1"


def find(docs, kind):
    """The documents of a kind; ConfigMap means popguard.yaml's, not the dashboard."""
    return [d for d in docs if d.get("kind") == kind and not is_dashboard(d)]


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_deployment(r, dep, values, docs):
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"].get("labels", {})
    psc = spec.get("securityContext", {})
    r.check("pod runAsNonRoot", psc.get("runAsNonRoot") is True, psc)
    r.check("pod seccomp RuntimeDefault", dig(psc, "seccompProfile", "type") == "RuntimeDefault", psc)
    r.check("selector matches pod labels", selects(dep["spec"]["selector"]["matchLabels"], labels))
    r.check("service account token not mounted", spec.get("automountServiceAccountToken") is False)
    containers = spec["containers"]
    r.check("one container", len(containers) == 1, len(containers))
    c = containers[0]
    sc = c.get("securityContext", {})
    r.check("readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True, sc)
    r.check("allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False, sc)
    r.check("capabilities drop ALL", "ALL" in dig(sc, "capabilities", "drop", default=[]), sc)
    r.check("container runAsNonRoot", sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, sc)
    res = c.get("resources", {})
    r.check("resource requests and limits", bool(res.get("requests")) and bool(res.get("limits")), res)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    r.check("grpc container port", "grpc" in ports, ports)
    r.check("http-metrics port iff metrics.enabled",
            ("http-metrics" in ports) == bool(values["metrics"]["enabled"]), ports)
    for probe_name in ("livenessProbe", "readinessProbe"):
        probe = c.get(probe_name)
        ok = bool(probe)
        why = "missing"
        if ok:
            handler = [k for k in ("grpc", "httpGet", "tcpSocket", "exec") if k in probe]
            ok = len(handler) == 1
            why = f"handlers {handler}"
            if ok and handler[0] in ("httpGet", "tcpSocket"):
                port = probe[handler[0]]["port"]
                ok = port in ports or port in ports.values()
                why = f"port {port} is not a container port"
            if ok and handler[0] == "grpc":
                ok = probe["grpc"]["port"] == ports.get("grpc")
                why = "grpc probe is not on the gRPC port"
        r.check(f"{probe_name} present and on a real port", ok, why)
    mode = values["probes"]["mode"]
    readiness = c.get("readinessProbe", {})
    want = {"grpc": "grpc", "http": "httpGet", "tcp": "tcpSocket"}[mode]
    r.check(f"readiness uses {want} (probes.mode={mode})", want in readiness, readiness)
    annotations = pod["metadata"].get("annotations", {})
    # Config changes reload in place; only start-up-only keys roll the pods.
    r.check("checksum/restart-config annotation, no checksum/config",
            re.fullmatch(r"[0-9a-f]{64}", str(annotations.get("checksum/restart-config", ""))) is not None
            and "checksum/config" not in annotations, annotations)
    if values["topologySpread"]["enabled"]:
        tsc = spec.get("topologySpreadConstraints", [])
        r.check("topology spread selects the pods",
                bool(tsc) and all(selects(dig(t, "labelSelector", "matchLabels"), labels) for t in tsc), tsc)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = c.get("volumeMounts", [])
    r.check("every volumeMount has a volume", all(m["name"] in volumes for m in mounts),
            [m["name"] for m in mounts if m["name"] not in volumes])
    cms = find(docs, "ConfigMap")
    cm_name = cms[0]["metadata"]["name"] if cms else None
    r.check("config volume from the chart's ConfigMap", dig(volumes, "config", "configMap", "name") == cm_name,
            volumes.get("config"))
    r.check("config mounted read-only at the --config directory",
            any(m["name"] == "config" and m.get("readOnly") and
                f"--config={m['mountPath']}/popguard.yaml" in c.get("args", []) for m in mounts), c.get("args"))
    secrets = values["secrets"]
    for vol, secret in (("dpop-nonce", secrets["dpopNonce"]["existingSecret"]),
                        ("redis-password", secrets["redisPassword"]["existingSecret"]
                         if values["config"]["replay"]["backend"] == "redis" else ""),
                        ("tls", values["tls"]["existingSecret"])):
        got = dig(volumes, vol, "secret", "secretName")
        r.check(f"secret volume {vol} iff configured", (got or "") == secret, got)
    if values["autoscaling"]["enabled"]:
        r.check("no replicas with an HPA", "replicas" not in dep["spec"])
    else:
        r.check("replicas = replicaCount", dep["spec"].get("replicas") == values["replicaCount"])
    sa = find(docs, "ServiceAccount")
    if values["serviceAccount"]["create"]:
        r.check("pod runs as the chart's ServiceAccount",
                bool(sa) and spec.get("serviceAccountName") == sa[0]["metadata"]["name"])
    else:
        r.check("no ServiceAccount rendered", not sa)
    return labels, ports


def cmd_manifests(args, r):
    with open(args.values) as f:
        values = json.load(f)
    docs = load_docs(args.manifests)
    r.check("documents rendered", bool(docs), "empty output")
    schemas = {}
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        name = f"{doc.get('kind')}/{dig(doc, 'metadata', 'name')}"
        if key not in SCHEMAS:
            r.check(f"{name} has a known kind", False, f"no schema for {key}")
            continue
        if key not in schemas:
            with open(os.path.join(args.schema_dir, SCHEMAS[key])) as f:
                schemas[key] = json.load(f)
        errors = schema_errors(schemas[key], doc)
        # The ServiceMonitor schema does not pin apiVersion/kind nor close its
        # root object (see the schema README): check those here.
        if doc["kind"] == "ServiceMonitor":
            extra = set(doc) - {"apiVersion", "kind", "metadata", "spec"}
            if extra:
                errors.append(f"/: unknown top-level keys {sorted(extra)}")
        r.check(f"{name} matches the Kubernetes 1.32 schema", not errors, "; ".join(errors[:5]))
        r.check(f"{name} has the chart labels",
                dig(doc, "metadata", "labels", "app.kubernetes.io/managed-by") == "Helm"
                and "helm.sh/chart" in dig(doc, "metadata", "labels", default={}))

    kinds = [d["kind"] for d in docs if not is_dashboard(d)]
    for kind in ("ConfigMap", "Service", "Deployment"):
        r.check(f"exactly one {kind}", kinds.count(kind) == 1, kinds)
    deps = find(docs, "Deployment")
    if not deps:
        return
    dep = deps[0]
    labels, ports = check_deployment(r, dep, values, docs)

    cm = find(docs, "ConfigMap")
    r.check("ConfigMap holds popguard.yaml", bool(cm) and "popguard.yaml" in cm[0].get("data", {}))
    if cm:
        text = cm[0]["data"].get("popguard.yaml", "")
        r.check("no float-formatted numbers (1e+06) in popguard.yaml", re.search(r"\de\+\d", text) is None)

    svc = find(docs, "Service")[0]
    r.check("Service selects the pods", selects(svc["spec"].get("selector"), labels))
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    r.check("Service gRPC port targets the container", dig(svc_ports, "grpc", "targetPort") in ("grpc", ports.get("grpc")))
    r.check("Service metrics port iff metrics.enabled",
            ("http-metrics" in svc_ports) == bool(values["metrics"]["enabled"]), list(svc_ports))

    replicas = values["autoscaling"]["minReplicas"] if values["autoscaling"]["enabled"] else values["replicaCount"]
    pdb = find(docs, "PodDisruptionBudget")
    want_pdb = values["podDisruptionBudget"]["enabled"] and replicas > 1
    r.check(f"PDB rendered iff enabled and more than one pod ({replicas})", bool(pdb) == want_pdb, kinds)
    if pdb:
        r.check("PDB selects the pods", selects(pdb[0]["spec"]["selector"]["matchLabels"], labels))
    hpa = find(docs, "HorizontalPodAutoscaler")
    r.check("HPA rendered iff autoscaling.enabled", bool(hpa) == bool(values["autoscaling"]["enabled"]))
    if hpa:
        ref = hpa[0]["spec"]["scaleTargetRef"]
        r.check("HPA targets the Deployment", ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"])
    netpol = find(docs, "NetworkPolicy")
    r.check("NetworkPolicy rendered iff enabled", bool(netpol) == bool(values["networkPolicy"]["enabled"]))
    if netpol:
        np = netpol[0]["spec"]
        r.check("NetworkPolicy selects the pods", selects(np["podSelector"]["matchLabels"], labels))
        np_ports = [p["port"] for rule in np.get("ingress", []) for p in rule.get("ports", [])]
        r.check("NetworkPolicy ports are container ports", np_ports and all(p in ports for p in np_ports), np_ports)
    sm = find(docs, "ServiceMonitor")
    want_sm = values["metrics"]["enabled"] and values["metrics"]["serviceMonitor"]["enabled"]
    r.check("ServiceMonitor rendered iff enabled", bool(sm) == bool(want_sm))
    if sm:
        r.check("ServiceMonitor selects the Service",
                selects(sm[0]["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]))
        r.check("ServiceMonitor scrapes the metrics port",
                all(e["port"] in svc_ports for e in sm[0]["spec"]["endpoints"]))


def cmd_config(args, r):
    cms = find(load_docs(args.manifests), "ConfigMap")
    if not r.check("ConfigMap found", len(cms) == 1, len(cms)):
        return
    text = cms[0]["data"]["popguard.yaml"]
    moved = []
    for path in sorted(set(re.findall(re.escape(CHART_ROOT) + r"[^\s'\"]+", text))):
        moved.append(os.path.join(args.root, path[1:]))
    text = text.replace(CHART_ROOT, os.path.join(args.root, CHART_ROOT[1:]))
    with open(args.out, "w") as f:
        f.write(text)
    for m in moved:
        print(f"FILE {m}")


def cmd_strip(args, r):
    with open(args.config) as f:
        config = yaml.safe_load(f)
    if args.drop == "metrics":
        config.pop("metrics", None)
    elif args.drop == "redis" and config.get("replay", {}).get("backend") == "redis":
        config["replay"] = {"backend": "memory", "max_entries": config["replay"].get("max_entries", 1000000)}
    with open(args.config, "w") as f:
        yaml.safe_dump(config, f, sort_keys=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="", help="prefix for every check name")
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("values")
    v.add_argument("--schema", required=True)
    v.add_argument("--values", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--schema-dir", required=True)
    m.add_argument("--values", required=True)
    m.add_argument("--manifests", required=True)
    c = sub.add_parser("config")
    c.add_argument("--manifests", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--root", required=True)
    s = sub.add_parser("strip")
    s.add_argument("--config", required=True)
    s.add_argument("--drop", choices=["metrics", "redis"], required=True)
    args = p.parse_args()
    r = Report(args.prefix)
    {"values": cmd_values, "manifests": cmd_manifests, "config": cmd_config, "strip": cmd_strip}[args.cmd](args, r)
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
