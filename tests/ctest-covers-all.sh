#!/usr/bin/env bash
# Fails unless ctest runs every Catch2 test case of core_tests, each as its own test. catch_discover_tests turns the
# names into a CMake list: a ';' splits a name in two and an unbalanced '[' swallows every later name into one test
# that runs nothing, so a name with either would silently drop tests from the run.
# usage: tests/ctest-covers-all.sh BUILD_DIR
set -euo pipefail
build=$1
# Catch2 2 exits with the number of test cases when listing them.
listed=$("$build/core_tests" --list-test-names-only || true)
names=$(grep -c . <<<"$listed")
bad=$(grep '[][;]' <<<"$listed" || true)
registered=$(cd "$build" && ctest -N | grep -c 'Test *#')
if [ -n "$bad" ] || [ "$names" != "$registered" ]; then
  echo "ctest runs $registered tests but core_tests has $names test cases" >&2
  [ -z "$bad" ] || printf 'test case names must not contain ; [ or ]:\n%s\n' "$bad" >&2
  exit 1
fi
echo "ctest covers all $names test cases"
