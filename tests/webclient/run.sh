#!/usr/bin/env bash
# Looks at the plugin's UI in a real Mattermost web client, in headless Chromium. Not part of `make test`.
#
#   tests/webclient/run.sh WEBCLIENT_DIR [BUNDLE] [OUT_DIR]
#
# WEBCLIENT_DIR is a built Mattermost web client (what a Mattermost release ships as client/: root.html and its
# assets) matching the pinned server (tests/mattermost/pins/v11.4). The script copies the server that
# tests/mattermost/build.sh gives, with that client in place of the placeholder, stages it with the plugin and the
# Microsoft 365 emulator (tests/e2e/webclient), then runs shoot.mjs, which writes screenshots and
# observations.json to OUT_DIR (default tests/webclient/out). Everything it started is stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { echo "webclient: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 WEBCLIENT_DIR [BUNDLE] [OUT_DIR]"
client=$(realpath "$1")
bundle=$(realpath "${2:-$root/dist/com.mattermost.msteams-0.1.0.tar.gz}")
out=$(realpath -m "${3:-$here/out}")
[[ -f $client/root.html ]] || die "$client has no root.html: not a built web client"
[[ -f $bundle ]] || die "no bundle at $bundle (make dist)"
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
[[ -x $chromium ]] || die "no Chromium at $chromium (set CHROMIUM_PATH)"

server=$("$root/tests/mattermost/build.sh" | tail -n 1)
work=$(mktemp -d /tmp/msteams-webclient.XXXXXX)
stage_pid=
cleanup() {
	if [[ -n $stage_pid ]] && kill -0 "$stage_pid" 2>/dev/null; then
		kill -TERM "$stage_pid"
		wait "$stage_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The server looks for its web app in client/ beside its binary (symbolic links resolved), so it gets a copy.
cp -R "$server" "$work/server"
rm -rf "$work/server/client"
cp -R "$client" "$work/server/client"

(cd "$root/tests/e2e" && go build -o "$work/stage" ./webclient)
if [[ ! -d $here/node_modules/playwright-core ]]; then
	(cd "$here" && npm ci --no-audit --no-fund)
fi

mkdir -p "$out"
MMTEST_SERVER_DIR="$work/server" "$work/stage" -bundle "$bundle" -env "$work/env" -log-dir "$out/logs" \
	>"$out/stage.log" 2>&1 &
stage_pid=$!
for _ in $(seq 300); do
	[[ -s $work/env ]] && break
	kill -0 "$stage_pid" 2>/dev/null || { cat "$out/stage.log" >&2; die "staging failed"; }
	sleep 1
done
[[ -s $work/env ]] || die "staging did not finish in 300 s (see $out/stage.log)"

CHROMIUM_PATH=$chromium node "$here/shoot.mjs" "$work/env" "$out"
echo "webclient: screenshots and observations.json in $out"
