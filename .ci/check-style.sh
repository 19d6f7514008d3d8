#!/usr/bin/env bash
# Static checks: C++ formatting (clang-format, .clang-format), Go formatting and vet, TypeScript types, the manifest.
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
