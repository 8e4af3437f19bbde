#!/usr/bin/env bash
# Runs every libFuzzer binary of a POPGUARD_FUZZ=ON build for a bounded time on
# its committed seed corpus (fuzz/corpus/<name>), one after the other, and
# prints each one's executions. New inputs go to <build>/corpus/<name>, never
# into the committed corpus; crashes to <build>/artifacts/.
#
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS [NAME...]
# Exit status 1 when any target crashed or broke an invariant.
set -uo pipefail
build=${1:?build dir}
seconds=${2:?seconds per target}
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$build"/fuzz/*_fuzzer; do [ -x "$f" ] && names+=("$(basename "$f")"); done
fi
mkdir -p "$build/artifacts"
failed=()
for name in "${names[@]}"; do
  mkdir -p "$build/corpus/$name"
  log="$build/artifacts/$name.log"
  "$build/fuzz/$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$name-" \
    "$build/corpus/$name" "$root/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  printf '%-24s %12s executions in %4s s  %s\n' "$name" "${execs:-?}" "${time:-?}" \
    "$([ $rc -eq 0 ] && echo ok || echo "FAILED (see $log)")"
  [ $rc -eq 0 ] || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
