#!/usr/bin/env bash
# Builds a pinned Mattermost server from its Go modules into a per-machine cache, and
# assembles what it reads at run time (i18n, templates, fonts, an empty client directory).
#
#   tests/mattermost/build.sh [RELEASE]      RELEASE: a directory under pins/ (default v11.4)
#
# Nothing to do when the cache is already complete. Progress goes to stderr; the last line
# on stdout is the server directory (bin/mattermost inside it), for scripts and mmtest.
# Cache root: ${MSTEAMS_CACHE:-$HOME/.cache/msteams-bridge}/mattermost/<server/v8 version>/
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
release=${1:-v11.4}
moddir=$here/pins/$release
server_mod=github.com/mattermost/mattermost/server/v8

die() { echo "build.sh: $*" >&2; exit 1; }
[[ -f $moddir/go.mod ]] || die "unknown release '$release' (have: $(ls "$here/pins" | tr '\n' ' '))"
command -v go >/dev/null || die "go is not on PATH"

version=$(awk -v m="$server_mod" '$1 == m { print $2 }' "$moddir/go.mod")
[[ -n $version ]] || die "$moddir/go.mod does not require $server_mod"
cache_root=${MSTEAMS_CACHE:-$HOME/.cache/msteams-bridge}/mattermost
out=$cache_root/$version

complete() { [[ -f $out/.complete && -x $out/bin/mattermost ]]; }
if complete; then
	echo "build.sh: $release ($version) is cached in $out" >&2
	echo "$out"
	exit 0
fi

start=$(date +%s)
mkdir -p "$cache_root"
# One build per version at a time (parallel test binaries may all ask for it).
exec 9>"$cache_root/.lock-$version"
flock 9
if complete; then
	echo "build.sh: $release ($version) was built meanwhile in $out" >&2
	echo "$out"
	exit 0
fi
# Assemble in a scratch directory beside the target and rename at the end, so an
# interrupted build never leaves a directory that looks complete.
work=$(mktemp -d "$cache_root/.build-$version.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The commit hash is the last part of the pseudo-version; it shows up in X-Version-Id.
hash=${version##*-}
ldflags="-s -w"
ldflags+=" -X github.com/mattermost/mattermost/server/public/model.BuildNumber=msteams-test"
ldflags+=" -X github.com/mattermost/mattermost/server/public/model.BuildHash=$hash"
ldflags+=" -X github.com/mattermost/mattermost/server/public/model.BuildEnterpriseReady=false"

echo "build.sh: building Mattermost $release ($version) with $(go env GOVERSION), $(nproc) cores ..." >&2
(
	cd "$moddir"
	# -mod=readonly: go.mod and go.sum are the pin; a build must never rewrite them.
	go build -mod=readonly -ldflags "$ldflags" -o "$work/bin/mattermost" "$server_mod/cmd/mattermost"
) >&2
built=$(date +%s)

src=$(cd "$moddir" && go list -mod=readonly -m -f '{{.Dir}}' "$server_mod")
[[ -d $src/i18n && -d $src/templates && -d $src/fonts ]] || die "no i18n/templates/fonts in $src"
for d in i18n templates fonts; do
	cp -R "$src/$d" "$work/$d"
done
# Files in the module cache are read-only; the copies must be removable.
chmod -R u+w "$work"

# The server serves its web app from client/ and refuses to start the static handler
# without client/root.html. The tests need no web app, so a placeholder page will do.
mkdir -p "$work/client"
cat >"$work/client/root.html" <<'EOF'
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mattermost (msteams bridge test bed)</title></head>
<body><p>This Mattermost server was built without its web app; use the REST API.</p></body></html>
EOF

"$work/bin/mattermost" version >"$work/version.txt" 2>/dev/null || die "the built binary does not run"
cat >"$work/.complete" <<EOF
release=$release
module=$server_mod@$version
go=$(go env GOVERSION)
build_seconds=$((built - start))
EOF

chmod -R u+w "$out" 2>/dev/null || true
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "build.sh: built $release in $(( $(date +%s) - start ))s (go build $((built - start))s) -> $out" >&2
echo "$out"
