#!/usr/bin/env bash
# Smoke-runs the issue-15 instruments end to end, quickly: bench/e2e_matrix.py
# --production (popguard-noop, popguard with the memory and the Redis replay
# window, 8 and a few more clients, on free loopback ports, one round of
# 0.5 s at a low rate, plus one curve point) and bench/plot_latency.py on its
# JSON. Every configuration must be in the table and the JSON with zero errors
# and zero denials, and both PNGs must be written. Prints "N passed, M failed".
set -uo pipefail
src=$1
bin=$2
source "$src/tests/testing/report.sh"
new_work_dir popguard-e2e-matrix-test
on_failure() { cat "$work/matrix.err" 2>/dev/null | tail -20; }

if python3 "$src/bench/e2e_matrix.py" --build "$bin" --algs ES256 --production \
    --same_rate 200 --rounds 1 --duration 0.5 --warmup 0.2 --big_clients 40 \
    --curve_rates 300 --json_out "$work/m.json" --md_out "$work/m.md" \
    >"$work/matrix.out" 2>"$work/matrix.err"; then
  pass "e2e_matrix --production runs"
else
  fail "e2e_matrix --production runs"
fi
for config in noop memory-8 redis-8 memory-40 redis-40; do
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
assert len(r["runs"]) == 5 and len(r["curve"]) == 5, (len(r["runs"]), len(r["curve"]))
for x in runs:
    assert x["errors"] == 0 and x["denied"] == 0 and x["requests"] > 0, x["server_mode"]
    assert x["server_cpu_us_per_request"] > 0, x["server_mode"]
    assert len(x["percentiles_us"]) > 10, x["server_mode"]
PY
then
  pass "every run answered, allowed and measured"
else
  fail "every run answered, allowed and measured"
fi
if /usr/bin/python3 "$src/bench/plot_latency.py" "$work/m.json" --out "$work/plots" \
    >>"$work/matrix.err" 2>&1 && [ -s "$work/plots/latency_percentiles.png" ] &&
    [ -s "$work/plots/throughput_latency.png" ]; then
  pass "plot_latency.py writes both plots"
else
  fail "plot_latency.py writes both plots"
fi
finish
