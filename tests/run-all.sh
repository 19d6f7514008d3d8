#!/usr/bin/env bash
# Runs every suite and ends with one line "ci: N passed, N failed" counting suites.
# usage: tests/run-all.sh BUNDLE
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=$1
passed=0 failed=0 failures=()
start_all=$(date +%s)

run() {
  local name=$1; shift
  local t0=$(date +%s)
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1)); echo "--- $name: ok ($(( $(date +%s) - t0 ))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "--- $name: FAILED ($(( $(date +%s) - t0 ))s)"
  fi
}

run "style"                          make --no-print-directory check-style
run "core unit tests (Release)"      make --no-print-directory test-core
run "core unit tests (ASan+UBSan)"   make --no-print-directory test-asan
run "fuzz (short)"                   make --no-print-directory fuzz FUZZ_SECONDS=5
run "shim"                           make --no-print-directory test-shim
run "webapp"                         make --no-print-directory test-webapp
[ -d tests/emulators/graph ] && run "m365 emulator" bash -c 'cd tests/emulators/graph && go vet ./... && go test -count=1 ./...'
run "Microsoft SDKs against the emulator" tests/sdk/run.sh
[ -d tests/mattermost ] && run "mattermost test bed" bash -c 'cd tests/mattermost && go vet ./... && go test -count=1 -timeout 20m ./...'
[ -d tests/chaos ] && run "chaos (short)" make --no-print-directory chaos CHAOS_FLAGS=-short
[ -d tests/e2e ] && run "end to end (Mattermost 11.4)" make --no-print-directory test-e2e BUNDLE="$bundle"
# The oldest release that builds here, for min_server_version (tests/mattermost/README.md says why it is 9.11):
# every feature again, the load and failover experiments (core and emulator behaviour) only on the newest.
[ -d tests/e2e ] && run "end to end (Mattermost 9.11)" env MMTEST_RELEASE=v9.11 make --no-print-directory test-e2e \
  BUNDLE="$bundle" E2E_FLAGS=-compat

echo
echo "total $(( $(date +%s) - start_all ))s"
((${#failures[@]})) && printf 'failed: %s\n' "${failures[@]}"
echo "ci: $passed passed, $failed failed"
[ "$failed" = 0 ]
