#!/usr/bin/env bash
# Smoke-runs the issue-15 instruments end to end, quickly: bench/e2e_matrix.py
# --production (popguard-noop, popguard with the memory window, the Redis window
# on one redis-server and on a 3-master Redis Cluster, 8 and a few more clients,
# on free loopback ports, one round of 0.5 s at a low rate, plus one curve
# point), --max --tail (closed loop, then open loop at half of memory-8's
# maximum) and bench/plot_latency.py on the --production JSON. Every
# configuration must be in the tables and the JSON with zero errors and zero
# denials, and both PNGs must be written. Prints "N passed, M failed".
set -uo pipefail
src=$1
bin=$2
source "$src/tests/testing/report.sh"
new_work_dir popguard-e2e-matrix-test
on_failure() { cat "$work/matrix.err" 2>/dev/null | tail -20; }

if python3 "$src/bench/e2e_matrix.py" --build "$bin" --algs ES256 --production \
    --same_rate 200 --rounds 1 --duration 0.5 --warmup 0.2 \
    --configs noop,memory-8,redis-8,redis-cluster-8,memory-40,redis-40 \
    --curve_rates 300 --json_out "$work/m.json" --md_out "$work/m.md" \
    >"$work/matrix.out" 2>"$work/matrix.err"; then
  pass "e2e_matrix --production runs"
else
  fail "e2e_matrix --production runs"
fi
for config in noop memory-8 redis-8 redis-cluster-8 memory-40 redis-40; do
  if grep -q "^| $config |" "$work/m.md" 2>/dev/null; then
    pass "table row $config"
  else
    fail "table row $config"
  fi
done
if python3 - "$work/m.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
runs = r["runs"] + r["curve"]
assert len(r["runs"]) == 6 and len(r["curve"]) == 6, (len(r["runs"]), len(r["curve"]))
for x in runs:
    if x["server_mode"] == "redis-cluster-8":
        # Every master of the cluster holds some of the window's keys.
        assert len(x["redis_keys"]) == 3 and min(x["redis_keys"]) > 0, x["redis_keys"]
    assert x["errors"] == 0 and x["denied"] == 0 and x["requests"] > 0, x["server_mode"]
    assert x["server_cpu_us_per_request"] > 0, x["server_mode"]
    assert len(x["percentiles_us"]) > 10, x["server_mode"]
PY
then
  pass "every run answered, allowed and measured"
else
  fail "every run answered, allowed and measured"
fi
if python3 "$src/bench/e2e_matrix.py" --build "$bin" --algs ES256 --max --tail \
    --configs noop,memory-8 --concurrency 4 --rounds 1 --duration 0.3 --warmup 0.1 \
    --json_out "$work/t.json" --md_out "$work/t.md" >"$work/tail.out" 2>>"$work/matrix.err" &&
    grep -q "^Closed-loop maximum" "$work/t.md" && grep -q "^Tail: open loop at" "$work/t.md" &&
    python3 - "$work/t.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert [x["server_mode"] for x in r["max"]] == ["noop", "memory-8"], r["max"]
assert [x["server_mode"] for x in r["tail"]] == ["noop", "memory-8"], r["tail"]
best = min(x["throughput_rps"] for x in r["max"] if x["server_mode"] == "memory-8")
assert r["tail_rate"] == int(best / 2), (r["tail_rate"], best)
for x in r["max"] + r["tail"]:
    assert x["errors"] == 0 and x["denied"] == 0 and x["requests"] > 0, x["server_mode"]
PY
then
  pass "e2e_matrix --max --tail runs"
else
  fail "e2e_matrix --max --tail runs"
fi
if /usr/bin/python3 "$src/bench/plot_latency.py" "$work/m.json" --out "$work/plots" \
    >>"$work/matrix.err" 2>&1 && [ -s "$work/plots/latency_percentiles.png" ] &&
    [ -s "$work/plots/throughput_latency.png" ]; then
  pass "plot_latency.py writes both plots"
else
  fail "plot_latency.py writes both plots"
fi
finish
