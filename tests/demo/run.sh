#!/usr/bin/env bash
# make demo: the plugin end to end on this machine. usage: tests/demo/run.sh BUNDLE
set -euo pipefail
bundle=$(realpath "$1")
cd "$(dirname "$0")/../e2e"
exec go run ./demo -bundle "$bundle"
