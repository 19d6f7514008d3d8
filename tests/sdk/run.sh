#!/usr/bin/env bash
# Drives the Microsoft 365 emulator with Microsoft's own client libraries, unpatched. Python (msal, azure-identity,
# msgraph-sdk; versions pinned in requirements.txt): sign-in with PKCE, app-only tokens, a chat, a subscription,
# a message and its change notification. Go (tests/sdk/go; MSAL Go and kiota-http-go, pinned in its go.mod):
# MSAL Go's client-credentials request and Kiota's gzip-compressed request bodies. See
# tests/emulators/graph/README.md §8.
#
# usage: tests/sdk/run.sh [pytest arguments]
# The venv lives in build/sdk-venv (made once, reinstalled only when requirements.txt changes); the emulator is
# built into build/sdk/ and runs from a throwaway state directory for pytest. The Go tests start their own
# emulator in process; their modules come from the Go module proxy into the module cache on the first run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
venv=$root/build/sdk-venv
req=$root/tests/sdk/requirements.txt
mkdir -p "$root/build/sdk"

if ! "$venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$venv/requirements.installed"; then
  echo "sdk: installing $(grep -c '==' "$req") pinned packages into build/sdk-venv"
  nice "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$venv/requirements.installed"
fi

(cd tests/emulators/graph &&
  GOFLAGS="-trimpath -buildvcs=false" GOTOOLCHAIN=local \
    nice go build -o "$root/build/sdk/m365-emulator" ./cmd/m365-emulator)

state=$(mktemp -d)
emu_pid= show_log=1   # the CLI emulator's log is of use unless pytest passed (the Go tests print their own)
cleanup() {
  local rc=$?
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  if [ "$rc" != 0 ] && [ "$show_log" = 1 ] && [ -s "$state/stderr" ]; then
    echo "--- emulator log (last 40 lines)"
    tail -n 40 "$state/stderr"
  fi
  rm -rf "$state"
}
trap cleanup EXIT
"$root/build/sdk/m365-emulator" --listen 127.0.0.1:0 --state-dir "$state" -v >"$state/stdout" 2>"$state/stderr" &
emu_pid=$!
for _ in $(seq 100); do   # the env file's last line is M365_CLIENT_SECRET
  grep -q '^M365_CLIENT_SECRET=' "$state/env" 2>/dev/null && break
  kill -0 "$emu_pid" 2>/dev/null || { echo "sdk: the emulator did not start" >&2; exit 1; }
  sleep 0.1
done
grep -q '^M365_CLIENT_SECRET=' "$state/env" 2>/dev/null ||
  { echo "sdk: the emulator wrote no env within 10 s" >&2; exit 1; }
while IFS= read -r line; do export "$line"; done <"$state/env"   # KEY=value lines, taken literally

py_rc=0 go_rc=0
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/sdk "$@" || py_rc=$?
[ "$py_rc" != 0 ] || show_log=0
echo "sdk: Go (tests/sdk/go)"
(cd tests/sdk/go && export GOTOOLCHAIN=local && nice go vet ./... && nice go test -count=1 ./...) || go_rc=$?
[ "$py_rc" = 0 ] && [ "$go_rc" = 0 ] || { echo "sdk: failed (pytest rc=$py_rc, go rc=$go_rc)" >&2; exit 1; }
