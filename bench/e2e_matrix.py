#!/usr/bin/env python3
"""End-to-end matrix: popguard-load against the real popguard in each crypto mode.

For every DPoP proof algorithm asked for, runs popguard (on a free loopback port)
in these configurations, one after the other, with the same pre-minted load:

  noop            popguard-noop (bench/popguard_noop_server.cc): the gRPC +
                  message-conversion ceiling
  openssl-inline  crypto {force_openssl: true,  batch_verification: false}
  native-inline   crypto {force_openssl: false, batch_verification: false}
  native-batched  crypto {force_openssl: false, batch_verification: true} (the default)
  native-queued   as native-batched, inline_when_idle: false (every check handed off;
                  not run unless named in --modes)

First a closed-loop run of each (fixed concurrency: the maximum throughput), then
an open-loop run of each validating server at half its own maximum, with the
no-op server at the same rate (server CPU per request depends on the rate).
Prints Markdown tables; --json_out keeps every popguard-load result.

  bench/e2e_matrix.py --build build --algs ES256,EdDSA --duration 10

--same_rate R instead runs every mode in open loop at R requests/s (R = -1:
closed loop at --concurrency), --rounds times, interleaved (mode A, B, C, A, B, C, ...), and prints each mode's median:
on a shared machine whose load drifts, only interleaved medians compare fairly.

  bench/e2e_matrix.py --build build --algs ES256 --same_rate 5000 --rounds 5 --duration 4

Only loopback addresses are used; every server started is stopped.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

MODES = {
    "noop": None,
    "openssl-inline": "crypto: {force_openssl: true, batch_verification: false}\n",
    "native-inline": "crypto: {force_openssl: false, batch_verification: false}\n",
    "native-batched": "crypto: {force_openssl: false, batch_verification: true}\n",
    "native-queued": ("crypto: {force_openssl: false, batch_verification: true, "
                      "inline_when_idle: false}\n"),
}
DEFAULT_MODES = "noop,openssl-inline,native-inline,native-batched"


class Server:
    def __init__(self, build, config, noop, log):
        if noop:
            args = [os.path.join(build, "popguard-noop"), "--config", config,
                    "--listen", "127.0.0.1:0"]
        else:
            args = [os.path.join(build, "popguard"), "--config", config,
                    "--listen", "127.0.0.1:0", "--log_level", "info"]
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        for _ in range(200):
            self.log.seek(0)
            m = re.search(r'"event":"listening".*?"port":(\d+)', self.log.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("popguard did not start; see " + log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def load(build, work, server, alg, extra):
    args = [os.path.join(build, "popguard-load"), "--issuer_key", os.path.join(work, "issuer.jwk"),
            "--target", "127.0.0.1:%d" % server.port, "--server_pid", str(server.proc.pid),
            "--proof_alg", alg, "--json", "--progress=false"] + extra
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--algs", default="ES256,EdDSA")
    p.add_argument("--modes", default=DEFAULT_MODES)
    p.add_argument("--same_rate", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--open_loop", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--json_out", default="")
    a = p.parse_args()
    modes = a.modes.split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="popguard-e2e-") as work:
        subprocess.run([os.path.join(a.build, "popguard-load"), "--write_issuer_key",
                        os.path.join(work, "issuer.jwk"), "--write_jwks",
                        os.path.join(work, "jwks.json"), "--write_config",
                        os.path.join(work, "base.yaml")], check=True, capture_output=True)
        with open(os.path.join(work, "base.yaml")) as f:
            base = f.read()
        common = ["--duration", str(a.duration), "--warmup", str(a.warmup),
                  "--clients", str(a.clients)]

        def run(mode, alg, extra):
            config = os.path.join(work, mode + ".yaml")
            with open(config, "w") as f:
                f.write(base + (MODES[mode] or ""))
            server = Server(a.build, config, MODES[mode] is None, os.path.join(work, mode + ".log"))
            try:
                r = load(a.build, work, server, alg, common + extra)
            finally:
                server.stop()
            r["server_mode"], r["proof_alg"] = mode, alg
            results.append(r)
            print("# %s %s %s: %.0f req/s, server %.1f us/req, p99 %.2f ms, errors %d, denied %d"
                  % (alg, mode, r["mode"], r["throughput_rps"], r["server_cpu_us_per_request"],
                     r["latency_us"]["p99"] / 1000, r["errors"], r["denied"]), file=sys.stderr)
            return r

        if a.same_rate:
            for alg in a.algs.split(","):
                runs = {m: [] for m in modes}
                for _ in range(a.rounds):
                    for m in modes:
                        load_args = (["--mode", "open", "--rate", str(a.same_rate)]
                                     if a.same_rate > 0 else
                                     ["--mode", "closed", "--concurrency", str(a.concurrency)])
                        runs[m].append(run(m, alg, load_args))
                med = lambda xs: sorted(xs)[len(xs) // 2]
                print("\n%s proofs, %s, medians of %d interleaved rounds of %g s:\n" % (
                    alg, "open loop at %d req/s" % a.same_rate if a.same_rate > 0 else
                    "closed loop, concurrency %d" % a.concurrency, a.rounds, a.duration))
                print("| server | req/s | server CPU µs/req (median; all) | p50 ms | p99 ms |"
                      " p99.9 ms |")
                print("| --- | ---: | ---: | ---: | ---: | ---: |")
                for m, rs in runs.items():
                    cpu = [r["server_cpu_us_per_request"] for r in rs]
                    print("| %s | %.0f | %.1f (%s) | %.2f | %.2f | %.2f |" % (
                        m, med([r["throughput_rps"] for r in rs]), med(cpu),
                        ", ".join("%.0f" % c for c in cpu),
                        med([r["latency_us"]["p50"] for r in rs]) / 1000,
                        med([r["latency_us"]["p99"] for r in rs]) / 1000,
                        med([r["latency_us"]["p999"] for r in rs]) / 1000))
            if a.json_out:
                with open(a.json_out, "w") as f:
                    json.dump(results, f, indent=1)
            return
        for alg in a.algs.split(","):
            closed = {m: run(m, alg, ["--mode", "closed", "--concurrency", str(a.concurrency)])
                      for m in modes}
            print("\n%s proofs, closed loop, concurrency %d, %g s:\n" % (alg, a.concurrency,
                                                                         a.duration))
            print("| server | req/s | server CPU µs/req | client CPU µs/req | p50 ms | p99 ms |"
                  " errors | denied |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for m, r in closed.items():
                print("| %s | %.0f | %.1f | %.1f | %.2f | %.2f | %d | %d |" % (
                    m, r["throughput_rps"], r["server_cpu_us_per_request"],
                    r["client_cpu_us_per_request"], r["latency_us"]["p50"] / 1000,
                    r["latency_us"]["p99"] / 1000, r["errors"], r["denied"]))
            if not a.open_loop:
                continue
            print("\n%s proofs, open loop at half of each server's maximum, with the no-op "
                  "server at the same rate:\n" % alg)
            print("| server | rate /s | server CPU µs/req | no-op CPU µs/req at that rate |"
                  " p50 ms | p99 ms | p99.9 ms | no-op p99 ms |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for m, c in closed.items():
                if m == "noop":
                    continue
                rate = int(c["throughput_rps"] / 2)
                extra = ["--mode", "open", "--rate", str(rate)]
                r = run(m, alg, extra)
                n = run("noop", alg, extra) if "noop" in modes else None
                print("| %s | %d | %.1f | %s | %.2f | %.2f | %.2f | %s |" % (
                    m, rate, r["server_cpu_us_per_request"],
                    "%.1f" % n["server_cpu_us_per_request"] if n else "-",
                    r["latency_us"]["p50"] / 1000, r["latency_us"]["p99"] / 1000,
                    r["latency_us"]["p999"] / 1000,
                    "%.2f" % (n["latency_us"]["p99"] / 1000) if n else "-"))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
