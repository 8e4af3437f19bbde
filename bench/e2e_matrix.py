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

--production runs the issue-15 table instead: the Redis replay window and a large
client population, every configuration in open loop at --same_rate (default 4000),
--rounds times interleaved, medians, and the ratios the targets are stated in:

  noop        popguard-noop, 8 clients
  memory-8    memory replay window, 8 clients
  redis-8     Redis replay window (one local redis-server), 8 clients
  memory-20k  memory window, --big_clients distinct client keys (default 20000)
  redis-20k   Redis window, --big_clients client keys

  bench/e2e_matrix.py --build build --production --same_rate 4000 --rounds 3 --duration 5 \
      --json_out m.json --md_out m.md

With two or more CPUs (--pin, default on) popguard runs on CPU 1 and popguard-load
and redis-server on CPU 0 (taskset), so the server's CPU per request is its own.

Only loopback addresses are used; every server started is stopped.
"""
import argparse
import json
import os
import re
import signal
import socket
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc):
    """SIGTERM, then SIGKILL after 20 s; waits either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pinned(cpu, args):
    return (["taskset", "-c", str(cpu)] + args) if cpu is not None else args


class RedisServer:
    """One throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self, work, cpu):
        self.port = free_port()
        self.log = open(os.path.join(work, "redis.log"), "w")
        self.proc = subprocess.Popen(
            pinned(cpu, ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no"]),
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if self.command(b"PING") == b"+PONG":
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def command(self, *words):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"*%d\r\n" % len(words) +
                          b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
                return s.recv(64).strip()
        except OSError:
            return None

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class Server:
    def __init__(self, build, config, noop, log, cpu=None):
        if noop:
            args = [os.path.join(build, "popguard-noop"), "--config", config,
                    "--listen", "127.0.0.1:0"]
        else:
            args = [os.path.join(build, "popguard"), "--config", config,
                    "--listen", "127.0.0.1:0", "--log_level", "info"]
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(pinned(cpu, args), stdout=self.log, stderr=subprocess.STDOUT)
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
        stop_process(self.proc)
        self.log.close()


def load(build, work, server, alg, extra, cpu=None):
    args = pinned(cpu, [os.path.join(build, "popguard-load")]) + [
        "--issuer_key", os.path.join(work, "issuer.jwk"),
        "--target", "127.0.0.1:%d" % server.port, "--server_pid", str(server.proc.pid),
        "--proof_alg", alg, "--json", "--progress=false"] + extra
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_base_config(build, work):
    """Writes a fresh issuer key and its JWKS into `work`; returns a config trusting them."""
    subprocess.run([os.path.join(build, "popguard-load"), "--write_issuer_key",
                    os.path.join(work, "issuer.jwk"), "--write_jwks",
                    os.path.join(work, "jwks.json"), "--write_config",
                    os.path.join(work, "base.yaml")], check=True, capture_output=True)
    with open(os.path.join(work, "base.yaml")) as f:
        return f.read()


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def production(a):
    """The issue-15 table: replay backends x client populations, interleaved."""
    big = "%dk" % (a.big_clients // 1000) if a.big_clients % 1000 == 0 else str(a.big_clients)
    configs = [("noop", None, 8), ("memory-8", "memory", 8), ("redis-8", "redis", 8),
               ("memory-" + big, "memory", a.big_clients), ("redis-" + big, "redis", a.big_clients)]
    pin = a.pin and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = (1, 0) if pin else (None, None)
    rate = a.same_rate if a.same_rate > 0 else 4000
    record = {"command": " ".join(sys.argv), "rate": rate, "rounds": a.rounds,
              "duration": a.duration, "pinned": pin, "loadavg_before": uptime(), "runs": []}
    runs = {name: [] for name, _, _ in configs}
    with tempfile.TemporaryDirectory(prefix="popguard-e2e-") as work:
        base = write_base_config(a.build, work)
        # The generated config ends with the memory replay section; Redis replaces it.
        base = base[:base.index("replay:")]
        redis = RedisServer(work, load_cpu)

        def run_one(name, backend, clients, rate):
            config = os.path.join(work, name + ".yaml")
            with open(config, "w") as f:
                f.write(base)
                if backend == "redis":
                    f.write("replay:\n  backend: redis\n  redis: {addresses: "
                            "[\"127.0.0.1:%d\"]}\n" % redis.port)
                else:
                    f.write("replay: {backend: memory, max_entries: 4000000}\n")
            redis.command(b"FLUSHALL")
            server = Server(a.build, config, backend is None, os.path.join(work, name + ".log"),
                            server_cpu)
            try:
                r = load(a.build, work, server, a.algs.split(",")[0],
                         ["--mode", "open", "--rate", str(rate), "--clients", str(clients),
                          "--duration", str(a.duration), "--warmup", str(a.warmup)], load_cpu)
            finally:
                server.stop()
            r["server_mode"] = name
            print("# %s at %d/s: %.0f req/s, server %.1f us/req, p99 %.2f ms, errors %d, "
                  "denied %d" % (name, rate, r["throughput_rps"], r["server_cpu_us_per_request"],
                                 r["latency_us"]["p99"] / 1000, r["errors"], r["denied"]),
                  file=sys.stderr)
            return r

        try:
            for _ in range(a.rounds):
                for name, backend, clients in configs:
                    r = run_one(name, backend, clients, rate)
                    runs[name].append(r)
                    record["runs"].append(r)
            # Throughput vs latency: one run per configuration and offered rate,
            # interleaved by configuration at each rate.
            record["curve"] = [run_one(name, backend, clients, int(cr))
                               for cr in a.curve_rates.split(",") if cr
                               for name, backend, clients in configs]
        finally:
            redis.stop()
    record["loadavg_after"] = uptime()
    cpu = {n: median([r["server_cpu_us_per_request"] for r in rs]) for n, rs in runs.items()}
    p99 = {n: median([r["latency_us"]["p99"] for r in rs]) / 1000 for n, rs in runs.items()}
    # The ratio each target is stated in: Redis against memory at the same population,
    # the large population against 8 clients with the same backend.
    versus = {"redis-8": "memory-8", "memory-" + big: "memory-8",
              "redis-" + big: "memory-" + big}
    lines = ["DPoP %s through ext_authz Check, open loop at %d req/s; medians of %d "
             "interleaved rounds of %g s; %s; load average %s before, %s after." % (
                 a.algs.split(",")[0], rate, a.rounds, a.duration,
                 "server on CPU 1, load and redis on CPU 0" if pin else "not pinned",
                 record["loadavg_before"], record["loadavg_after"]), "",
             "| configuration | req/s | server CPU µs/req (median; all) | vs | CPU ratio |"
             " p99 ratio | p50 ms | p99 ms | p99.9 ms | denied | errors |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, rs in runs.items():
        ref = versus.get(name)
        lines.append("| %s | %.0f | %.1f (%s) | %s | %s | %s | %.2f | %.2f | %.2f | %d | %d |" % (
            name, median([r["throughput_rps"] for r in rs]), cpu[name],
            ", ".join("%.0f" % r["server_cpu_us_per_request"] for r in rs), ref or "-",
            "%.2f" % (cpu[name] / cpu[ref]) if ref and cpu[ref] > 0 else "-",
            "%.2f" % (p99[name] / p99[ref]) if ref and p99[ref] > 0 else "-",
            median([r["latency_us"]["p50"] for r in rs]) / 1000, p99[name],
            median([r["latency_us"]["p999"] for r in rs]) / 1000,
            sum(r["denied"] for r in rs), sum(r["errors"] for r in rs)))
    table = "\n".join(lines) + "\n"
    print(table)
    if a.md_out:
        with open(a.md_out, "w") as f:
            f.write(table)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(record, f, indent=1)


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
    p.add_argument("--production", action="store_true")
    p.add_argument("--big_clients", type=int, default=20000)
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--md_out", default="")
    p.add_argument("--curve_rates", default="",
                   help="--production: also run each configuration once at each of these "
                        "rates (comma-separated) for the throughput-latency curves")
    a = p.parse_args()
    if a.production:
        return production(a)
    modes = a.modes.split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="popguard-e2e-") as work:
        base = write_base_config(a.build, work)
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
