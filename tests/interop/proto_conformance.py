#!/usr/bin/python3
"""Envoy proto conformance: popguard's subset in proto/ against Envoy's own
data-plane-api definitions (shipped by the npm package @grpc/grpc-js-xds under
deps/envoy-api, with udpa/xds, googleapis and protoc-gen-validate), then the
real popguard binary driven with CheckRequests built from the upstream
definitions.

1. Both sets are compiled with protoc --descriptor_set_out. For every message,
   field, enum value and RPC popguard declares (outside popguard.v1), the
   upstream has the same package and full name, and each field the same
   number, name, label, type (and type name), and oneof. Exactly these
   substitutions are allowed (same wire format), and each must still occur:
   - `bytes` where Envoy declares `string` (ALLOWED_BYTES);
   - Envoy's `map<string, string> headers` declared as a repeated entry message
     with `bytes` key = 1 and value = 2 (ALLOWED_MAP_ENTRIES).
2. popguard runs on a free loopback port with a key made by popguard-cli; a
   CheckRequest built with the upstream descriptors (dynamic messages)
   carrying a DPoP-bound token and proof must be allowed, the same request
   again denied dpop_replayed (401, UNAUTHENTICATED), and the upstream
   CheckResponse must parse both answers.

Usage: proto_conformance.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SRC, BUILD = sys.argv[1], sys.argv[2]
DEPS = os.path.join(SRC, "tests/interop/node_modules/@grpc/grpc-js-xds/deps")
OURS = ["google/rpc/status.proto", "envoy/type/v3/http_status.proto",
        "envoy/config/core/v3/base.proto", "envoy/service/auth/v3/attribute_context.proto",
        "envoy/service/auth/v3/external_auth.proto"]

# popguard declares these `bytes` where Envoy declares `string`: a request's
# or certificate's octets that are not UTF-8 must never make a CheckRequest
# unparsable (proto/envoy/...: comments at each).
ALLOWED_BYTES = {
    "envoy.config.core.v3.HeaderValue.key",
    "envoy.config.core.v3.HeaderValue.value",
    "envoy.service.auth.v3.AttributeContext.Peer.service",
    "envoy.service.auth.v3.AttributeContext.Peer.principal",
    "envoy.service.auth.v3.AttributeContext.Peer.certificate",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.id",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.method",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.path",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.host",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.scheme",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.query",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.fragment",
    "envoy.service.auth.v3.AttributeContext.HttpRequest.protocol",
}
# Envoy's map field -> popguard's entry message standing in for it.
ALLOWED_MAP_ENTRIES = {
    "envoy.service.auth.v3.AttributeContext.HttpRequest.headers":
        "envoy.service.auth.v3.AttributeContext.HttpRequest.HeaderEntry",
}

failures = []
used = set()


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def compile_set(includes, files, out):
    args = ["protoc", "--include_imports", "--descriptor_set_out=" + out]
    args += ["-I" + i for i in includes] + files
    subprocess.run(args, check=True)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return fds


def index(fds):
    """full name -> (kind, proto, file) for messages, enums and services."""
    out = {}

    def add_msg(prefix, m, f):
        name = prefix + "." + m.name
        out[name] = ("message", m, f)
        for n in m.nested_type:
            add_msg(name, n, f)
        for e in m.enum_type:
            out[name + "." + e.name] = ("enum", e, f)

    for f in fds.file:
        pkg = "." + f.package if f.package else ""
        for m in f.message_type:
            add_msg(pkg, m, f)
        for e in f.enum_type:
            out[pkg + "." + e.name] = ("enum", e, f)
        for s in f.service:
            out[pkg + "." + s.name] = ("service", s, f)
    return out


def oneof_name(m, field):
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return m.oneof_decl[field.oneof_index].name


def compare_fields(name, ours, up, up_index):
    B = descriptor_pb2.FieldDescriptorProto
    up_by_number = {f.number: f for f in up.field}
    for f in ours.field:
        fname = name[1:] + "." + f.name
        u = up_by_number.get(f.number)
        if u is None:
            fail(f"{fname} = {f.number}: no field with that number upstream")
            continue
        if u.name != f.name:
            fail(f"{fname} = {f.number}: upstream calls it {u.name}")
        if fname in ALLOWED_MAP_ENTRIES:
            entry = up_index.get(u.type_name, (None, None, None))[1]
            ok = (u.label == B.LABEL_REPEATED and f.label == B.LABEL_REPEATED and entry is not None
                  and entry.options.map_entry
                  and f.type_name == "." + ALLOWED_MAP_ENTRIES[fname]
                  and [(x.number, x.name, x.type) for x in entry.field]
                  == [(1, "key", B.TYPE_STRING), (2, "value", B.TYPE_STRING)])
            if ok:
                used.add(fname)
            else:
                fail(f"{fname}: not Envoy's map<string, string> {u.type_name}")
            continue
        if u.label != f.label:
            fail(f"{fname}: label {f.label}, upstream {u.label}")
        if u.type != f.type:
            if f.type == B.TYPE_BYTES and u.type == B.TYPE_STRING and fname in ALLOWED_BYTES:
                used.add(fname)
            else:
                fail(f"{fname}: type {f.type}, upstream {u.type}")
        elif f.type in (B.TYPE_MESSAGE, B.TYPE_ENUM) and u.type_name != f.type_name:
            fail(f"{fname}: type {f.type_name}, upstream {u.type_name}")
        if oneof_name(ours, f) != oneof_name(up, u):
            fail(f"{fname}: oneof {oneof_name(ours, f)}, upstream {oneof_name(up, u)}")


def conformance(work):
    ours = compile_set([os.path.join(SRC, "proto")], OURS, os.path.join(work, "ours.pb"))
    up = compile_set([os.path.join(DEPS, d) for d in
                      ("envoy-api", "xds", "googleapis", "protoc-gen-validate")],
                     ["envoy/service/auth/v3/external_auth.proto", "google/rpc/status.proto"],
                     os.path.join(work, "upstream.pb"))
    ours_index, up_index = index(ours), index(up)
    up_files = {f.name: f for f in up.file}
    for f in ours.file:
        if f.name not in OURS:
            continue  # google/protobuf/*: protoc's own
        u = up_files.get(f.name)
        if u is None or u.package != f.package:
            fail(f"{f.name}: upstream has no such file in package {f.package}")
    checked = 0
    entries = set(ALLOWED_MAP_ENTRIES.values())
    for name, (kind, p, f) in sorted(ours_index.items()):
        if f.name not in OURS or name[1:] in entries:
            continue
        if name not in up_index or up_index[name][0] != kind:
            fail(f"{name[1:]}: no {kind} of that name upstream")
            continue
        u = up_index[name][1]
        checked += 1
        if kind == "message":
            compare_fields(name, p, u, up_index)
        elif kind == "enum":
            up_values = {v.name: v.number for v in u.value}
            for v in p.value:
                if up_values.get(v.name) != v.number:
                    fail(f"{name[1:]}.{v.name} = {v.number}: upstream {up_values.get(v.name)}")
        else:
            up_methods = {m.name: m for m in u.method}
            for m in p.method:
                um = up_methods.get(m.name)
                if um is None or (um.input_type, um.output_type, um.client_streaming,
                                  um.server_streaming) != (m.input_type, m.output_type,
                                                           m.client_streaming, m.server_streaming):
                    fail(f"{name[1:]}.{m.name}: differs from upstream")
    for name in sorted((ALLOWED_BYTES | set(ALLOWED_MAP_ENTRIES)) - used):
        fail(f"{name}: listed as an allowed substitution but no longer substituted")
    print(f"compared {checked} messages, enums and services; substitutions: "
          f"{len(used & ALLOWED_BYTES)} bytes-for-string, "
          f"{len(used & set(ALLOWED_MAP_ENTRIES))} map-as-entry-message")
    return up


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def drive_check(up, work):
    pool = descriptor_pool.DescriptorPool()
    for f in up.file:
        pool.Add(f)
    CheckRequest = message_class(pool, "envoy.service.auth.v3.CheckRequest")
    CheckResponse = message_class(pool, "envoy.service.auth.v3.CheckResponse")

    cli = os.path.join(BUILD, "popguard-cli")
    run = lambda *a: subprocess.run([cli, *a], check=True, capture_output=True,
                                    text=True).stdout.strip()
    issuer_key, client_key = os.path.join(work, "issuer.jwk"), os.path.join(work, "client.jwk")
    run("keygen", "--alg", "Ed25519", "--kid", "k1", "--out", issuer_key)
    run("keygen", "--alg", "ES256", "--out", client_key)
    with open(os.path.join(work, "jwks.json"), "w") as f:
        f.write(run("jwks", "--key", issuer_key))
    with open(os.path.join(work, "popguard.yaml"), "w") as f:
        f.write("log_level: info\nissuers:\n  - issuer: https://issuer.conformance.test\n"
                "    jwks_file: jwks.json\n    audiences: [https://api.conformance.test]\n"
                "default_binding: dpop\n")
    log = open(os.path.join(work, "server.log"), "w+")
    server = subprocess.Popen([os.path.join(BUILD, "popguard"), "--config",
                               os.path.join(work, "popguard.yaml"), "--listen", "127.0.0.1:0"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(100):
            with open(log.name) as f:
                m = re.search(r'"event":"listening".*"port":(\d+)', f.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if port is None:
            fail("popguard did not start")
            return
        # Minted once popguard runs: a proof older than its replay window is
        # refused (dpop_replay_window_reset).
        token = run("token", "--key", issuer_key, "--iss", "https://issuer.conformance.test",
                    "--aud", "https://api.conformance.test", "--sub", "alice",
                    "--dpop-key", client_key)
        proof = run("proof", "--key", client_key, "--method", "POST",
                    "--url", "https://api.conformance.test/orders", "--token", token)
        # Imported only now, after the last fork (popguard, popguard-cli): a
        # gRPC core initialised before a fork breaks its channels here.
        import grpc
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        # Ready when grpc.health.v1 says SERVING (HealthCheckResponse status 1,
        # b"\x08\x01" on the wire): the listening line may come first.
        health = channel.unary_unary("/grpc.health.v1.Health/Check",
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        for _ in range(100):
            try:
                if health(b"", timeout=2) == b"\x08\x01":
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        check = channel.unary_unary("/envoy.service.auth.v3.Authorization/Check",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=CheckResponse.FromString)
        req = CheckRequest()
        http = req.attributes.request.http
        http.id = "conformance-1"
        http.method = "POST"
        http.scheme = "https"
        http.host = "api.conformance.test"
        http.path = "/orders?id=7"
        http.protocol = "HTTP/2"
        http.headers["authorization"] = "DPoP " + token
        http.headers["dpop"] = proof
        http.body = "not sent to popguard, ignored if it were"  # a field popguard does not declare
        req.attributes.context_extensions["popguard_route"] = ""
        req.attributes.source.address.socket_address.address = "192.0.2.1"  # undeclared too

        try:
            ok = check(req, timeout=10)
        except grpc.RpcError as e:
            fail(f"Check with an upstream-built request failed: {e.code()} {e.details()} "
                 f"(popguard exit status: {server.poll()})")
            return
        print("allow:", ok.status.code, ok.WhichOneof("http_response"))
        if ok.status.code != 0 or ok.WhichOneof("http_response") != "ok_response":
            fail(f"Check with an upstream-built request: not allowed: {ok}")
        else:
            headers = {h.header.key: h.header.value for h in ok.ok_response.headers}
            if headers.get("x-popguard-sub") != "alice":
                fail(f"ok_response.headers lack x-popguard-sub: alice: {headers}")

        try:
            denied = check(req, timeout=10)
        except grpc.RpcError as e:
            fail(f"the same request again failed: {e.code()} {e.details()}")
            return
        dr = denied.denied_response
        headers = {h.header.key: h.header.value for h in dr.headers}
        print("replay:", denied.status.code, dr.status.code, headers.get("x-popguard-reason"))
        if (denied.status.code != 16 or denied.WhichOneof("http_response") != "denied_response"
                or dr.status.code != 401 or headers.get("x-popguard-reason") != "dpop_replayed"
                or not headers.get("www-authenticate", "").startswith("DPoP ")):
            fail(f"the same request again is not denied dpop_replayed/401: {denied}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if failures:
            log.seek(0)
            print(log.read())
        log.close()


def main():
    if not os.path.isdir(os.path.join(DEPS, "envoy-api")):
        print(f"FAIL: {DEPS} is missing: run scripts/install-deps.sh "
              "(npm ci in tests/interop needs the npm registry)")
        return 1
    with tempfile.TemporaryDirectory(prefix="popguard-proto-") as work:
        up = conformance(work)
        drive_check(up, work)
    print(f"{'0 failed' if not failures else str(len(failures)) + ' failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
