#!/usr/bin/env bash
# Fails unless the build enforces the module layering of docs/architecture.md: for each module, an include of a
# module above it (or of the generated protobuf headers, which only rpc may see) must not compile, while an include
# of the module's own header with the same command does. Uses the compile commands CMake wrote for BUILD_DIR.
# usage: tests/layering.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
exec python3 - "$build" <<'PY'
import json, os, shlex, subprocess, sys, tempfile

build = sys.argv[1]
commands = json.load(open(os.path.join(build, "compile_commands.json")))
# module: (a header of its own, a header it must not reach)
cases = {
    "common": ("common/result.hpp", "crypto/crypto.hpp"),
    "crypto": ("crypto/crypto.hpp", "http/client.hpp"),
    "http": ("http/client.hpp", "graph/client.hpp"),
    "convert": ("convert/convert.hpp", "store/database.hpp"),
    "metrics": ("metrics/counters.hpp", "sync/people.hpp"),
    "store": ("store/database.hpp", "graph/client.hpp"),
    "graph": ("graph/client.hpp", "sync/people.hpp"),
    "sync": ("sync/people.hpp", "subscriptions/monitor.hpp"),
    "subscriptions": ("subscriptions/monitor.hpp", "web/router.hpp"),
    "web": ("web/router.hpp", "commands/commands.hpp"),
    "commands": ("commands/commands.hpp", "app/config.hpp"),
    "app": ("app/config.hpp", "rpc/server.hpp"),
}
generated = "msteams.pb.h"

def command_for(module):
    for c in commands:
        if f"/core/{module}/" in c["file"] and c["file"].endswith(".cpp"):
            return c
    sys.exit(f"layering: no compile command for a source of core/{module} in {build}")

def compiles(entry, include):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    # Drop the output and the source; check syntax only.
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c", "-MF", "-MT", "-MQ"):
            skip = a != "-c"
            continue
        if a == entry["file"] or a.endswith(".cpp") or a in ("-MD", "-MMD"):
            continue
        out.append(a)
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", dir=build, delete=False) as f:
        f.write(f'#include "{include}"\n')
    try:
        r = subprocess.run(out + ["-fsyntax-only", f.name], cwd=entry["directory"], capture_output=True, text=True)
        return r.returncode == 0, r.stderr
    finally:
        os.unlink(f.name)

failed = 0
for module, (own, above) in cases.items():
    entry = command_for(module)
    ok, err = compiles(entry, own)
    if not ok:
        print(f"layering: {module} cannot include its own {own} (the check itself is broken):\n{err}")
        failed += 1
        continue
    for forbidden in (above, generated):
        ok, err = compiles(entry, forbidden)
        if ok:
            print(f"layering: {module} can include {forbidden}: the build does not enforce the layering")
            failed += 1
if failed:
    sys.exit(1)
print(f"layering: {len(cases)} modules reach neither the module above them nor the generated types")
PY
