#!/usr/bin/python3
"""Plots popguard-load results with matplotlib (Debian python3-matplotlib).

Input: the JSON of `bench/e2e_matrix.py --production --json_out FILE` (its "runs"
and, with --curve_rates, its "curve"). Output, into --out (default bench/plots):

  latency_percentiles.png   latency by percentile, one line per configuration
                            (HdrHistogram-style: the percentile axis is log-scaled
                            in 1/(1-q), so 90 %, 99 %, 99.9 % ... are evenly spaced);
                            each configuration's round with the median p99
  throughput_latency.png    p50 and p99 against achieved throughput, one curve per
                            configuration (from "curve", one run per offered rate, and
                            the median round at the main rate)

  /usr/bin/python3 bench/plot_latency.py m.json --out bench/plots   (Debian's python, which
  has python3-matplotlib)
"""
import argparse
import collections
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def by_config(runs):
    groups = collections.OrderedDict()
    for r in runs:
        groups.setdefault(r["server_mode"], []).append(r)
    return groups


def median_run(rs):
    return sorted(rs, key=lambda r: r["latency_us"]["p99"])[len(rs) // 2]


def percentiles(r):
    # [quantile, µs] pairs; 1.0 (the maximum) cannot sit on a 1/(1-q) axis.
    pts = [(q, us) for q, us in r.get("percentiles_us", []) if q < 1.0]
    if not pts:
        lat = r["latency_us"]
        pts = [(0.5, lat["p50"]), (0.9, lat["p90"]), (0.99, lat["p99"]), (0.999, lat["p999"])]
    return [1.0 / (1.0 - q) for q, _ in pts], [us / 1000.0 for _, us in pts]


def plot_percentiles(record, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rs in by_config(record["runs"]).items():
        x, y = percentiles(median_run(rs))
        ax.plot(x, y, marker=".", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("DPoP Check latency by percentile, open loop at %s req/s" % record.get("rate"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(record, path):
    curve = record.get("curve") or []
    if not curve:
        return False
    # The main rate's runs are a point of each curve too (each configuration's median round).
    curve = curve + [median_run(rs) for rs in by_config(record["runs"]).values()]
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, rs) in enumerate(by_config(curve).items()):
        rs = sorted(rs, key=lambda r: r["throughput_rps"])
        x = [r["throughput_rps"] for r in rs]
        color = "C%d" % i
        ax.plot(x, [r["latency_us"]["p99"] / 1000 for r in rs], marker="o", color=color,
                label=name + " p99")
        ax.plot(x, [r["latency_us"]["p50"] / 1000 for r in rs], marker=".", linestyle="--",
                color=color, label=name + " p50")
    ax.set_yscale("log")
    ax.set_xlabel("achieved throughput, req/s")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("DPoP Check: throughput vs latency (open loop, one run per rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("matrix_json")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "plots"))
    a = p.parse_args()
    with open(a.matrix_json) as f:
        record = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    written = [os.path.join(a.out, "latency_percentiles.png")]
    plot_percentiles(record, written[0])
    curves = os.path.join(a.out, "throughput_latency.png")
    if plot_curves(record, curves):
        written.append(curves)
    print("\n".join(written))


if __name__ == "__main__":
    main()
