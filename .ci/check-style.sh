#!/usr/bin/env bash
# Static checks: C++ formatting (clang-format, .clang-format) and analysis (clang-tidy, .clang-tidy), Go formatting
# and vet, TypeScript types, the manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

# C++: every file of the core, its unit tests and fuzz targets, except generated tables.
cxx=$(git ls-files 'core/*.cpp' 'core/*.hpp' 'tests/unit/*.cpp' 'tests/unit/*.hpp' 'tests/fuzz/*.cpp' 'tests/fuzz/*.hpp' |
  grep -v 'core/convert/detail/emoji_table.cpp' || true)
if ! command -v clang-format-19 >/dev/null; then
  echo "check-style: clang-format-19 is missing (make deps installs it)"; status=1
elif ! clang-format-19 --dry-run --Werror --style=file $cxx 2>/tmp/clang-format.$$; then
  echo "check-style: clang-format would change (run: clang-format-19 -i --style=file FILE):"
  grep -o '^[^:]*:[0-9]*' /tmp/clang-format.$$ | sort -u | head -40; status=1
fi
rm -f /tmp/clang-format.$$

# C++ static analysis: clang-tidy (.clang-tidy) on the core sources a change touches (a changed header brings the
# source of the same name): against origin/main when HEAD is not on it, else the last commit, plus what is not
# committed. TIDY_ALL=1 checks every source (make tidy). It needs the compile commands of a build (TIDY_BUILD_DIR,
# default build/); without them it is skipped with a notice, except in CI, where that is a failure.
tidy_build=${TIDY_BUILD_DIR:-build}
if [ "${TIDY_ALL:-0}" = 1 ]; then
  tidy_files=$(git ls-files 'core/*.cpp' | grep -v 'core/convert/detail/emoji_table.cpp' || true)
else
  base=HEAD~1
  if git rev-parse -q --verify origin/main >/dev/null && ! git merge-base --is-ancestor HEAD origin/main; then
    base=$(git merge-base HEAD origin/main)
  fi
  changed=$( (git diff --name-only "$base" 2>/dev/null || true; git ls-files --others --exclude-standard) |
    grep -E '^core/.*\.(cpp|hpp)$' | sort -u || true)
  tidy_files=$(for f in $changed; do
    src=${f%.hpp}
    src=${src%.cpp}.cpp
    [ -f "$src" ] && [ "$src" != core/convert/detail/emoji_table.cpp ] && echo "$src"
  done | sort -u)
fi
if [ -z "$tidy_files" ]; then
  echo "check-style: clang-tidy: no core source changed"
elif ! command -v clang-tidy-19 >/dev/null; then
  echo "check-style: clang-tidy-19 is missing (make deps installs it)"; status=1
elif [ ! -f "$tidy_build/compile_commands.json" ]; then
  echo "check-style: clang-tidy needs $tidy_build/compile_commands.json (make core first)"
  [ -n "${CI:-}" ] && status=1
else
  echo "check-style: clang-tidy on $(echo "$tidy_files" | wc -l) core sources"
  # -Wno-*: GCC's flags in the compile commands, and libstdc++ 12 headers clang 19 calls deprecated.
  if ! echo "$tidy_files" | xargs -P "${JOBS:-2}" -n 4 clang-tidy-19 -p "$tidy_build" --quiet \
      --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-deprecated-declarations >/tmp/clang-tidy.$$ 2>&1; then
    grep -E 'warning:|error:' /tmp/clang-tidy.$$ | sort -u | head -60; status=1
  fi
  rm -f /tmp/clang-tidy.$$
fi

unformatted=$(gofmt -l shim tests bench 2>/dev/null | grep -v '/gen/' || true)
if [ -n "$unformatted" ]; then
  echo "check-style: gofmt would change:"; echo "$unformatted"; status=1
fi
for mod in shim tests/mattermost tests/emulators/graph tests/e2e tests/chaos bench; do
  [ -f "$mod/go.mod" ] || continue
  (cd "$mod" && go vet ./...) || status=1
done
(cd webapp && npx tsc --noEmit) || status=1
python3 - <<'PY' || status=1
import json, sys
m = json.load(open("plugin.json"))
errors = []
for key in ("id", "name", "version", "min_server_version"):
    if not m.get(key):
        errors.append(f"plugin.json: {key} is missing")
seen = set()
for s in m["settings_schema"]["settings"]:
    k = s.get("key", "")
    if k.lower() in seen:
        errors.append(f"plugin.json: setting {k} is defined twice (keys are case-insensitive)")
    seen.add(k.lower())
    if not s.get("help_text"):
        errors.append(f"plugin.json: setting {k} has no help_text")
    if s.get("type") in ("radio", "dropdown"):
        values = [o.get("value") for o in s.get("options", [])]
        if not values or any(not v for v in values):
            errors.append(f"plugin.json: setting {k} needs non-empty options")
        if "default" in s and s["default"] not in values:
            errors.append(f"plugin.json: setting {k} default is not one of its options")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
[ $status = 0 ] && echo "check-style: clean"
exit $status
