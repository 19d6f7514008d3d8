#!/usr/bin/env bash
# Assembles the plugin bundle: bundle.sh OUT.tar.gz CORE SHIM WEBAPP_MAIN_JS (the Teams tab's tab.js beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 core=$2 shim=$3 webapp=$4
tab=$(dirname "$webapp")/tab.js  # the Teams tab's script, built beside the webapp
id=$(python3 -c 'import json;print(json.load(open("plugin.json"))["id"])')

for f in "$core" "$shim" "$webapp" "$tab" plugin.json assets/icon.svg; do
  [ -f "$f" ] || { echo "bundle: missing $f" >&2; exit 1; }
done
# The core must run on any x86_64 Linux a Mattermost server runs on: refuse a dynamic one (a developer's local
# bundle may say MSTEAMS_DEV_BUNDLE=1 to test a debug build on this machine).
if [ "${MSTEAMS_DEV_BUNDLE:-}" != 1 ] && ! file -b "$core" | grep -q 'statically linked'; then
  echo "bundle: $core is not statically linked: $(file -b "$core")" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$id
mkdir -p "$root/server/dist" "$root/webapp/dist" "$root/assets" "$root/public"
cp plugin.json "$root/"
cp assets/icon.svg "$root/assets/"  # assets/grafana and assets/prometheus are for the admin, not the server
install -m 0755 "$shim" "$root/server/dist/plugin-linux-amd64"
install -m 0755 -s "$core" "$root/server/dist/msteams-core"
install -m 0644 "$webapp" "$root/webapp/dist/main.js"
# Mattermost serves the bundle's public/ at /plugins/<id>/public/: the Teams tab page loads its script from there.
install -m 0644 "$tab" "$root/public/tab.js"
mkdir -p "$(dirname "$out")"
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name -czf "$out.tmp" "$id"
mv "$out.tmp" "$out"
echo "bundle: $out ($(du -h "$out" | cut -f1))"
