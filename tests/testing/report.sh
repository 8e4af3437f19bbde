# PASS/FAIL bookkeeping for the shell tests (sourced):
#   pass NAME / fail NAME   print one line and count it;
#   finish                  prints "N passed, M failed" and exits 0 only when
#                           nothing failed; a test may define on_failure
#                           (e.g. to print its logs), which runs first when
#                           something did.
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
  if [ "$failed" -ne 0 ] && declare -F on_failure >/dev/null; then on_failure; fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
