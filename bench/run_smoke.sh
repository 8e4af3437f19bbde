#!/usr/bin/env bash
# run_smoke.sh BENCHMARK [ARGS...]: runs a Google Benchmark binary once (the
# ctest smoke entry) and fails when any benchmark reported an error.
#
# Benchmarks check their own results (a verifier that rejects a valid
# signature calls state.SkipWithError), but Google Benchmark 1.7 only prints
# "ERROR OCCURRED" for those and still exits 0. So the run also writes its
# JSON report, and any entry with error_occurred, or a report with no
# benchmark at all, fails the entry. Works for every binary, whatever its main
# and display reporter (the JSON file reporter is independent of both).
set -u
if [ $# -lt 1 ]; then echo "usage: $0 BENCHMARK [ARGS...]" >&2; exit 2; fi
bin=$1
shift
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$bin" "$@" --benchmark_out="$report" --benchmark_out_format=json
rc=$?
if [ $rc -ne 0 ]; then
  echo "FAILED: $bin exited with $rc"
  exit 1
fi
python3 - "$report" <<'PY'
import json
import sys

with open(sys.argv[1]) as f:
    runs = json.load(f).get("benchmarks", [])
errors = [r for r in runs if r.get("error_occurred")]
for r in errors:
    print("FAILED: %s: %s" % (r.get("name"), r.get("error_message")))
if not runs:
    print("FAILED: no benchmark ran")
    sys.exit(1)
if errors:
    sys.exit(1)
print("run_smoke: %d benchmark runs, no error" % len(runs))
PY
