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
--rounds times interleaved, medians, the server's RSS after each run, and the ratios
the targets are stated in:

  noop                popguard-noop, 8 clients
  memory-8            memory replay window, 8 clients
  redis-8             Redis replay window (one local redis-server), 8 clients
  redis-cluster-8     Redis window on a 3-master Redis Cluster (3 local redis-servers)
  memory-20k          memory window, --big_clients distinct client keys (default 20000)
  redis-20k           Redis window, --big_clients client keys
  redis-cluster-20k   the cluster, --big_clients client keys

  bench/e2e_matrix.py --build build --production --same_rate 4000 --rounds 3 --duration 5 \
      --json_out m.json --md_out m.md

--configs picks the configurations (noop or <memory|redis|redis-cluster>-<clients>,
optionally -pk<N> for proof_key_cache_entries N), e.g. the proof-key cache at two sizes
with a warmup that shows every one of 20,000 keys once before measuring:

  bench/e2e_matrix.py --production --configs memory-8,memory-20k-pk4096,memory-20k-pk32768 \
      --same_rate 2000 --warmup 11 --duration 8 --rounds 3

--max runs each configuration (default noop, memory-8, redis-8) in closed loop at
--concurrency, --rounds interleaved, and prints the medians and their share of the
no-op server's maximum (the per-core throughput target). --tail runs them in open
loop at half of memory-8's closed-loop maximum (taken from --max in the same command,
measured first otherwise, or --tail_rate) and prints each p99 against noop's (the
tail target). Both together:

  bench/e2e_matrix.py --max --tail --rounds 3 --duration 4 --warmup 1

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


def free_cluster_port():
    """A free loopback port for a cluster node: Redis Cluster listens on port + 10000
    for its bus, so the port must be at most 55535 and port + 10000 free too."""
    for _ in range(1000):
        port = free_port()
        if port > 55535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port pair for a Redis Cluster node")


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
    """One throwaway redis-server on a free loopback port, no persistence.

    cluster=True: cluster-enabled (its nodes.conf in its own directory under `work`)."""

    def __init__(self, work, cpu, cluster=False, name="redis"):
        # A port probed free can be taken by someone else before redis-server binds
        # it: then try another.
        for attempt in range(3):
            self.port = free_cluster_port() if cluster else free_port()
            self.dir = os.path.join(work, "%s-%d" % (name, self.port))
            os.makedirs(self.dir, exist_ok=True)
            self.log = open(os.path.join(self.dir, "redis.log"), "w")
            args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir]
            if cluster:
                args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", "5000"]
            self.proc = subprocess.Popen(pinned(cpu, args), stdout=self.log,
                                         stderr=subprocess.STDOUT)
            for _ in range(200):
                if self.command(b"PING") == b"+PONG":
                    return
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            self.stop()
        with open(os.path.join(self.dir, "redis.log")) as f:
            raise RuntimeError("redis-server did not start: " + f.read()[-500:])

    def command(self, *words):
        """Sends one command on a new connection; returns the reply line, or the
        payload of a bulk string reply; None when the server does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"*%d\r\n" % len(words) +
                          b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
                line, rest = data.split(b"\r\n", 1)
                if not line.startswith(b"$") or line == b"$-1":
                    return line.strip()
                size = int(line[1:])
                while len(rest) < size:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    rest += chunk
                return rest[:size]
        except (OSError, ValueError):
            return None

    def addresses(self):
        return ["127.0.0.1:%d" % self.port]

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class RedisCluster:
    """`masters` cluster-enabled redis-servers (no replicas) on free loopback ports,
    joined with `redis-cli --cluster create`, every slot assigned."""

    def __init__(self, work, cpu, masters=3):
        self.nodes = []
        try:
            for _ in range(masters):
                self.nodes.append(RedisServer(work, cpu, cluster=True, name="cluster"))
            subprocess.run(["redis-cli", "--cluster", "create"] + self.addresses() +
                           ["--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            for _ in range(400):
                infos = [n.command(b"CLUSTER", b"INFO") or b"" for n in self.nodes]
                if all(b"cluster_state:ok" in i and b"cluster_slots_ok:16384" in i and
                       b"cluster_known_nodes:%d\r\n" % masters in i for i in infos):
                    return
                time.sleep(0.05)
            raise RuntimeError("the Redis Cluster never reached cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    def addresses(self):
        return ["127.0.0.1:%d" % n.port for n in self.nodes]

    def flush(self):
        for n in self.nodes:
            n.command(b"FLUSHALL")

    def stop(self):
        for n in self.nodes:
            n.stop()


# KEY=VALUE pairs (--server_env) set in the server's environment only, e.g. LD_PRELOAD to
# try another allocator; popguard-load and redis-server keep the caller's environment.
SERVER_ENV = {}


class Server:
    def __init__(self, build, config, noop, log, cpu=None):
        if noop:
            args = [os.path.join(build, "popguard-noop"), "--config", config,
                    "--listen", "127.0.0.1:0"]
        else:
            args = [os.path.join(build, "popguard"), "--config", config,
                    "--listen", "127.0.0.1:0", "--log_level", "info"]
        self.log = open(log, "w+")
        self.proc = subprocess.Popen(pinned(cpu, args), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **SERVER_ENV))
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


def machine():
    """Commit, date, CPU model and IFMA, for the header of every table."""
    src = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    model, flags = "unknown", ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    return "commit %s, %s UTC, %s x %d, avx512ifma %s" % (
        commit, time.strftime("%Y-%m-%d %H:%M", time.gmtime()), model, os.cpu_count() or 1,
        "present" if " avx512ifma" in flags else "absent")


def server_rss_kib(pid):
    """VmRSS of a live process, KiB (-1 when unreadable)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def parse_config(name):
    """'noop', or <backend>-<clients>[-pk<N>]: backend memory, redis (one redis-server)
    or redis-cluster (3 masters); clients a number, k for thousands; -pkN sets
    proof_key_cache_entries to N. Returns (backend or None, clients, N or None)."""
    if name == "noop":
        return None, 8, None
    m = re.fullmatch(r"(memory|redis|redis-cluster)-(\d+)(k?)(?:-pk(\d+))?", name)
    if not m:
        raise SystemExit("e2e_matrix.py: unknown configuration %r" % name)
    clients = int(m.group(2)) * (1000 if m.group(3) else 1)
    return m.group(1), clients, (int(m.group(4)) if m.group(4) else None)


def reference(name, names):
    """The configuration a target's ratio is stated against: a Redis window (one
    server or the cluster) against the memory window with the same clients, the
    memory window with more clients against memory-8, the rest against noop."""
    backend, clients, _ = parse_config(name)
    if backend is None:
        return None
    population = name.split("-pk")[0].rsplit("-", 1)[1]
    ref = "memory-8" if backend == "memory" else "memory-" + population
    return ref if ref != name and ref in names else ("noop" if "noop" in names else None)


class Bench:
    """The servers' surroundings: a work dir with the issuer key and base config,
    the Redis window's servers the configurations need (started once), pinning.
    run() starts popguard (or popguard-noop) for one configuration, loads it and
    stops it."""

    def __init__(self, a, names):
        self.a = a
        self.alg = a.algs.split(",")[0]
        self.pin = a.pin and (os.cpu_count() or 1) >= 2
        self.server_cpu, self.load_cpu = (1, 0) if self.pin else (None, None)
        self.tmp = tempfile.TemporaryDirectory(prefix="popguard-e2e-")
        self.work = self.tmp.name
        self.redis = self.cluster = None
        try:
            base = write_base_config(a.build, self.work)
            # The generated config ends with the memory replay section; each run writes its own.
            self.base = base[:base.index("replay:")]
            backends = {parse_config(n)[0] for n in names}
            if "redis" in backends:
                self.redis = RedisServer(self.work, self.load_cpu)
            if "redis-cluster" in backends:
                self.cluster = RedisCluster(self.work, self.load_cpu)
        except BaseException:
            self.close()
            raise

    def close(self):
        for r in (self.redis, self.cluster):
            if r:
                r.stop()
        self.tmp.cleanup()

    def where(self):
        return "server on CPU 1, load and redis on CPU 0" if self.pin else "not pinned"

    def run(self, name, load_args, pool=0):
        backend, clients, proof_keys = parse_config(name)
        config = os.path.join(self.work, name + ".yaml")
        with open(config, "w") as f:
            f.write(self.base)
            if backend == "memory":
                f.write("replay: {backend: memory, max_entries: 4000000}\n")
            elif backend:
                nodes = self.redis.addresses() if backend == "redis" else self.cluster.addresses()
                f.write("replay:\n  backend: redis\n  redis: {addresses: [%s]}\n" %
                        ", ".join('"%s"' % n for n in nodes))
            if proof_keys is not None:
                f.write("proof_key_cache_entries: %d\n" % proof_keys)
        if self.redis:
            self.redis.command(b"FLUSHALL")
        if self.cluster:
            self.cluster.flush()
        server = Server(self.a.build, config, backend is None,
                        os.path.join(self.work, name + ".log"), self.server_cpu)
        try:
            r = load(self.a.build, self.work, server, self.alg,
                     ["--clients", str(clients), "--duration", str(self.a.duration),
                      "--warmup", str(self.a.warmup)] + load_args +
                     (["--pool", str(pool)] if pool else []), self.load_cpu)
            r["server_rss_kib"] = server_rss_kib(server.proc.pid)
            if backend == "redis-cluster":
                # Keys per master: the window really is spread over the cluster.
                r["redis_keys"] = [int(n.command(b"DBSIZE").lstrip(b":") or -1)
                                   for n in self.cluster.nodes]
        finally:
            server.stop()
        r["server_mode"] = name
        print("# %s %s: %.0f req/s, server %.1f us/req, p99 %.2f ms, RSS %d KiB, errors %d, "
              "denied %d" % (name, " ".join(load_args), r["throughput_rps"],
                             r["server_cpu_us_per_request"], r["latency_us"]["p99"] / 1000,
                             r["server_rss_kib"], r["errors"], r["denied"]), file=sys.stderr)
        return r


def interleaved(bench, names, rounds, load_args, pool=None):
    """`rounds` rounds of every configuration in turn; {name: [result per round]}."""
    runs = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            runs[n].append(bench.run(n, load_args, (pool or {}).get(n, 0)))
    return runs


def open_loop_table(runs, names, header):
    """Markdown: medians of CPU per request, latency and RSS, and the target ratios."""
    cpu = {n: median([r["server_cpu_us_per_request"] for r in rs]) for n, rs in runs.items()}
    p99 = {n: median([r["latency_us"]["p99"] for r in rs]) / 1000 for n, rs in runs.items()}
    lines = [header, "",
             "| configuration | req/s | server CPU µs/req (median; all) | vs | CPU ratio |"
             " p99 ratio | p50 ms | p99 ms | p99.9 ms | RSS MiB | denied | errors |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, rs in runs.items():
        ref = reference(name, names)
        lines.append("| %s | %.0f | %.1f (%s) | %s | %s | %s | %.2f | %.2f | %.2f | %.1f | %d | %d |"
                     % (name, median([r["throughput_rps"] for r in rs]), cpu[name],
                        ", ".join("%.0f" % r["server_cpu_us_per_request"] for r in rs),
                        ref or "-",
                        "%.2f" % (cpu[name] / cpu[ref]) if ref and cpu[ref] > 0 else "-",
                        "%.2f" % (p99[name] / p99[ref]) if ref and p99[ref] > 0 else "-",
                        median([r["latency_us"]["p50"] for r in rs]) / 1000, p99[name],
                        median([r["latency_us"]["p999"] for r in rs]) / 1000,
                        median([r["server_rss_kib"] for r in rs]) / 1024,
                        sum(r["denied"] for r in rs), sum(r["errors"] for r in rs)))
    return "\n".join(lines) + "\n"


def production(a):
    """The issue-15 tables: --production (replay backends x client populations at one
    rate), --max (closed-loop maxima), --tail (p99 at half of memory-8's maximum)."""
    big = "%dk" % (a.big_clients // 1000) if a.big_clients % 1000 == 0 else str(a.big_clients)
    if a.configs:
        names = a.configs.split(",")
    elif a.production:
        names = ["noop", "memory-8", "redis-8", "redis-cluster-8", "memory-" + big,
                 "redis-" + big, "redis-cluster-" + big]
    else:
        names = ["noop", "memory-8", "redis-8"]
    for n in names:
        parse_config(n)  # refuse a misspelt configuration before anything starts
    rate = a.same_rate if a.same_rate > 0 else 4000
    record = {"command": " ".join(sys.argv), "machine": machine(), "rate": rate,
              "rounds": a.rounds, "duration": a.duration, "warmup": a.warmup,
              "loadavg_before": uptime(), "runs": []}
    closed = ["--mode", "closed", "--concurrency", str(a.concurrency)]
    # Closed loop: the no-op server passes ~45,000 req/s on one core, and popguard-load's
    # own pool is sized for 25,000 (enough for popguard), so noop gets proofs for 50,000.
    pool = {"noop": int(50000 * (a.duration + a.warmup)) + 1000}
    tables = []
    bench = Bench(a, names)
    try:
        record["pinned"] = bench.pin
        if a.production:
            runs = interleaved(bench, names, a.rounds, ["--mode", "open", "--rate", str(rate)])
            record["runs"] = [r for rs in zip(*runs.values()) for r in rs]
            # Throughput vs latency: one run per configuration and offered rate,
            # interleaved by configuration at each rate.
            record["curve"] = [bench.run(n, ["--mode", "open", "--rate", cr])
                               for cr in a.curve_rates.split(",") if cr for n in names]
            tables.append(open_loop_table(runs, names, (
                "DPoP %s through ext_authz Check, open loop at %d req/s; medians of %d "
                "interleaved rounds of %g s after %g s of warmup; %s; %s." % (
                    bench.alg, rate, a.rounds, a.duration, a.warmup, bench.where(),
                    record["machine"]))))
        maxima = {}
        if a.max:
            runs = interleaved(bench, names, a.rounds, closed, pool)
            record["max"] = [r for rs in zip(*runs.values()) for r in rs]
            maxima = {n: median([r["throughput_rps"] for r in rs]) for n, rs in runs.items()}
            lines = ["Closed-loop maximum, DPoP %s through Check, concurrency %d; medians of %d "
                     "interleaved rounds of %g s; %s; %s." % (
                         bench.alg, a.concurrency, a.rounds, a.duration, bench.where(),
                         record["machine"]), "",
                     "| configuration | req/s (median; all) | of noop | server CPU µs/req |"
                     " server core busy | req/s per server core | of noop | p99 ms | denied |"
                     " errors |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            # When the server's core is not busy all the time, the load generator (or the
            # machine) set the pace; 1e6 / (server CPU µs per request) is then the rate one
            # core of the server's own would pass.
            cpu = {n: median([r["server_cpu_us_per_request"] for r in rs])
                   for n, rs in runs.items()}
            per_core = {n: 1e6 / c if c > 0 else 0 for n, c in cpu.items()}
            for n, rs in runs.items():
                lines.append("| %s | %.0f (%s) | %s | %.1f | %.0f %% | %.0f | %s | %.2f | %d | %d |"
                             % (n, maxima[n],
                                ", ".join("%.0f" % r["throughput_rps"] for r in rs),
                                "%.0f %%" % (100 * maxima[n] / maxima["noop"])
                                if maxima.get("noop") else "-",
                                cpu[n], 100 * median([r["throughput_rps"] *
                                                      r["server_cpu_us_per_request"] / 1e6
                                                      for r in rs]),
                                per_core[n],
                                "%.0f %%" % (100 * per_core[n] / per_core["noop"])
                                if per_core.get("noop") else "-",
                                median([r["latency_us"]["p99"] for r in rs]) / 1000,
                                sum(r["denied"] for r in rs), sum(r["errors"] for r in rs)))
            tables.append("\n".join(lines) + "\n")
        if a.tail:
            tail_rate = a.tail_rate
            if tail_rate <= 0:
                if "memory-8" not in maxima:
                    runs = interleaved(bench, ["memory-8"], a.rounds, closed, pool)
                    record["tail_max"] = runs["memory-8"]
                    maxima["memory-8"] = median([r["throughput_rps"] for r in runs["memory-8"]])
                tail_rate = int(maxima["memory-8"] / 2)
            runs = interleaved(bench, names, a.rounds, ["--mode", "open", "--rate",
                                                       str(tail_rate)])
            record["tail_rate"] = tail_rate
            record["tail"] = [r for rs in zip(*runs.values()) for r in rs]
            p99 = {n: median([r["latency_us"]["p99"] for r in rs]) / 1000
                   for n, rs in runs.items()}
            lines = ["Tail: open loop at %d req/s (%s); medians of %d interleaved rounds of "
                     "%g s; %s; %s." % (
                         tail_rate, "--tail_rate" if a.tail_rate > 0 else
                         "half of memory-8's closed-loop maximum %.0f" % maxima["memory-8"],
                         a.rounds, a.duration, bench.where(), record["machine"]), "",
                     "| configuration | req/s | p50 ms | p99 ms (median; all) | p99 / noop |"
                     " p99.9 ms | server CPU µs/req | denied | errors |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for n, rs in runs.items():
                lines.append("| %s | %.0f | %.2f | %.2f (%s) | %s | %.2f | %.1f | %d | %d |" % (
                    n, median([r["throughput_rps"] for r in rs]),
                    median([r["latency_us"]["p50"] for r in rs]) / 1000, p99[n],
                    ", ".join("%.2f" % (r["latency_us"]["p99"] / 1000) for r in rs),
                    "%.2f" % (p99[n] / p99["noop"]) if p99.get("noop") else "-",
                    median([r["latency_us"]["p999"] for r in rs]) / 1000,
                    median([r["server_cpu_us_per_request"] for r in rs]),
                    sum(r["denied"] for r in rs), sum(r["errors"] for r in rs)))
            tables.append("\n".join(lines) + "\n")
    finally:
        bench.close()
    record["loadavg_after"] = uptime()
    text = "\n".join(tables) + "\nload average %s before, %s after.\n" % (
        record["loadavg_before"], record["loadavg_after"])
    print(text)
    if a.md_out:
        with open(a.md_out, "w") as f:
            f.write(text)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(record, f, indent=1)


def main():
    # SIGTERM (and SIGINT, which a non-interactive shell's background job ignores) unwind
    # through the finally blocks, so that no server started here outlives the script.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
    p.add_argument("--max", action="store_true",
                   help="closed-loop maximum of each configuration (default: noop, memory-8, "
                        "redis-8), --rounds interleaved, with the share of noop's")
    p.add_argument("--tail", action="store_true",
                   help="open loop at half of memory-8's closed-loop maximum (measured first, or "
                        "taken from --max), every configuration interleaved, p99 against noop's")
    p.add_argument("--tail_rate", type=int, default=0,
                   help="--tail: use this rate instead of measuring the maximum")
    p.add_argument("--configs", default="",
                   help="--production/--max/--tail: configurations, comma-separated: noop or "
                        "<memory|redis|redis-cluster>-<clients>[-pk<proof_key_cache_entries>], "
                        "e.g. memory-20k-pk32768")
    p.add_argument("--big_clients", type=int, default=20000)
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--md_out", default="")
    p.add_argument("--curve_rates", default="",
                   help="--production: also run each configuration once at each of these "
                        "rates (comma-separated) for the throughput-latency curves")
    p.add_argument("--server_env", action="append", default=[], metavar="KEY=VALUE",
                   help="set in the environment of the server under test only (repeatable), "
                        "e.g. LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    a = p.parse_args()
    for kv in a.server_env:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            p.error("--server_env wants KEY=VALUE, got %r" % kv)
        SERVER_ENV[key] = value
    if a.production or a.max or a.tail:
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
