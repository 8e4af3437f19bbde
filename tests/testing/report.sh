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

# new_work_dir NAME: sets `work` to a new temp dir and an EXIT trap that
# stops every process whose pid the test appended to `pids` (SIGTERM, then
# reaped) and removes the dir.
pids=()
new_work_dir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
}

# build_helm_render SOURCE_DIR BINARY_DIR OUT: builds scripts/helm-render (Go
# from Debian's packages, GOPATH mode) to OUT; prints the errors on failure.
build_helm_render() {
  (
    export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$2/helm-render-gocache GOFLAGS=
    cd "$1/scripts/helm-render" && go build -o "$3" . 2>&1
  )
}
