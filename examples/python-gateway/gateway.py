#!/usr/bin/python3
"""A minimal HTTP gateway that asks popguard before it forwards a request.

It shows what any gateway that is not Envoy has to do with popguard's own API,
popguard.v1.Verifier/Verify:

  1. Describe the request as the client addressed it: method, the absolute URL
     (public origin + path + query), every header (repeated ones kept apart).
  2. Call Verify with a short deadline. Any error (popguard down, deadline
     exceeded) is a denial: the gateway fails closed with 503.
  3. On DENY, answer with popguard's http_status and response_headers
     (WWW-Authenticate, DPoP-Nonce) and do not forward.
  4. On ALLOW, remove the client's copies of the identity headers
     (upstream_headers_to_remove), set popguard's upstream_headers, forward.

The "upstream" here is a built-in echo of the identity headers it received,
so the example runs on its own:

  protoc -I proto --python_out=/tmp/pg proto/popguard/v1/verifier.proto
  PYTHONPATH=/tmp/pg /usr/bin/python3 examples/python-gateway/gateway.py \\
      --popguard 127.0.0.1:9001 --origin https://api.example --listen 127.0.0.1:8080

Only python3-grpcio and python3-protobuf (Debian) are needed: the call uses
grpcio's generic unary API with the message classes protoc generates, so no
gRPC code generator is required. No token, proof or certificate is logged.
"""

import argparse
import http.server
import json
import sys

import grpc

from popguard.v1 import verifier_pb2 as pb

VERIFY = "/popguard.v1.Verifier/Verify"

# Hop-by-hop headers describe this connection, not the request; they are not
# part of what the client asked for and are not sent to popguard.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade"}


class Popguard:
    """Popguard calls popguard.v1.Verifier/Verify over one shared channel."""

    def __init__(self, target, timeout_seconds):
        self._channel = grpc.insecure_channel(target)
        self._verify = self._channel.unary_unary(
            VERIFY,
            request_serializer=pb.VerifyRequest.SerializeToString,
            response_deserializer=pb.VerifyResponse.FromString)
        self._timeout = timeout_seconds

    def verify(self, method, url, headers, client_cert_der=None, route_key=""):
        """verify returns popguard's VerifyResponse, or raises grpc.RpcError."""
        request = pb.VerifyRequest(method=method, url=url, route_key=route_key,
                                   headers=[pb.Header(name=n, value=v) for n, v in headers])
        if client_cert_der:
            request.certificate = client_cert_der
        return self._verify(request, timeout=self._timeout)


def make_handler(popguard, origin, route_key):
    """make_handler returns the request handler class of the gateway."""

    class Gateway(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the default log prints the request line only
            sys.stderr.write("gateway: " + (fmt % args) + "\n")

        def _reply(self, status, headers, body):
            data = json.dumps(body, sort_keys=True).encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)  # the echo upstream ignores bodies
            # The URL as the client addressed it. The origin is configured, not
            # taken from Host: a client must not choose the URL its proof is
            # checked against (same reasoning as popguard's external_origin).
            url = origin + self.path
            headers = [(n.lower(), v) for n, v in self.headers.items() if n.lower() not in HOP_BY_HOP]
            try:
                decision = popguard.verify(self.command, url, headers, route_key=route_key)
            except grpc.RpcError as err:
                # Fail closed: without a decision nothing is forwarded.
                self._reply(503, [], {"error": "authorization unavailable", "grpc": err.code().name})
                return
            if decision.decision != pb.ALLOW:
                self._reply(decision.http_status or 403,
                            [(h.name, h.value) for h in decision.response_headers],
                            {"error": decision.reason_code})
                return
            # ALLOW: the request the upstream sees. Client copies of the identity
            # headers go first, then popguard's values are set (overwrite).
            remove = {n.lower() for n in decision.upstream_headers_to_remove}
            remove |= {h.name.lower() for h in decision.upstream_headers}
            upstream = [(n, v) for n, v in headers if n not in remove]
            upstream += [(h.name.lower(), h.value) for h in decision.upstream_headers]
            self._reply(200, [], self._upstream(upstream, decision))

        def _upstream(self, headers, decision):
            """The stand-in upstream: echoes the identity it was given."""
            return {"upstream_saw": {n: v for n, v in headers if n.startswith("x-popguard-")},
                    "route": decision.route,
                    "report_only": decision.report_only}

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    return Gateway


def main():
    p = argparse.ArgumentParser(description="HTTP gateway that asks popguard (Verify) per request.")
    p.add_argument("--popguard", default="127.0.0.1:9001", help="popguard gRPC address host:port")
    p.add_argument("--origin", required=True,
                   help="public origin clients address, e.g. https://api.example (what DPoP htu is signed for)")
    p.add_argument("--listen", default="127.0.0.1:8080", help="host:port to serve on (port 0: any free port)")
    p.add_argument("--timeout", type=float, default=0.5, help="Verify deadline in seconds")
    p.add_argument("--route-key", default="", help="route key sent with every request")
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    handler = make_handler(Popguard(args.popguard, args.timeout), args.origin.rstrip("/"), args.route_key)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler)
    print(json.dumps({"event": "listening", "port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
