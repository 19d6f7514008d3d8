#!/usr/bin/env bash
# Generates the Go code for proto/msteams.proto into shim/gen/corepb (not committed).
# Idempotent: does nothing when the proto file and the generator pins are unchanged.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.10       # = google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1    # generates grpc.SupportPackageIsVersion9 (grpc-go >= 1.64)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
proto_dir=$(cd "$here/../proto" && pwd)
proto="$proto_dir/msteams.proto"
bin="$here/.bin"
out="$here/gen/corepb"
stamp="$out/.stamp"

command -v protoc >/dev/null || { echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

install_tool() { # name module version
    local name=$1 mod=$2 ver=$3
    if [[ ! -x "$bin/$name" || "$(cat "$bin/$name.version" 2>/dev/null)" != "$ver" ]]; then
        mkdir -p "$bin"
        (cd "$here" && GOBIN="$bin" GOFLAGS= go install "$mod@$ver")
        echo "$ver" >"$bin/$name.version"
    fi
}
install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

want="$(sha256sum "$proto" | cut -d' ' -f1) $(protoc --version) $PROTOC_GEN_GO_VERSION $PROTOC_GEN_GO_GRPC_VERSION"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$out/msteams.pb.go" && -f "$out/msteams_grpc.pb.go" ]]; then
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corepb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
protoc -I "$proto_dir" \
    --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
    --go_out="$tmp" --go_opt=paths=source_relative \
    --go-grpc_out="$tmp" --go-grpc_opt=paths=source_relative \
    "$proto"
mkdir -p "$out"
rm -f "$out"/*.pb.go
mv "$tmp"/*.pb.go "$out/"
echo "$want" >"$stamp"
echo "generate.sh: regenerated $out"
