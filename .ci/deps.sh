#!/usr/bin/env bash
# Installs what the build and the tests need, only what is missing. Safe to run again; quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config file python3 python3-venv
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev
  nlohmann-json3-dev libboost-dev catch2 libssl-dev zlib1g-dev
  libpq-dev postgresql postgresql-server-dev-15
  libgumbo-dev libcmark-gfm-dev libcmark-gfm-extensions-dev
  chromium prometheus
  clang-19 libclang-rt-19-dev clang-format-19 clang-tidy-19
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: Debian packages present"
fi

command -v go >/dev/null || { echo "deps: Go is missing (the machine's Go 1.26 is expected; do not install Debian's golang-go)" >&2; exit 1; }
command -v node >/dev/null || { echo "deps: Node.js is missing" >&2; exit 1; }

if [ ! -f webapp/node_modules/.package-lock.json ] || [ webapp/package-lock.json -nt webapp/node_modules/.package-lock.json ]; then
  (cd webapp && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "deps: npm packages present"
fi

# Microsoft's Teams app manifest validation, for tests/e2e/teams_app_test.go (pinned in its package-lock.json).
manifest_dir=tests/e2e/teams-manifest
if [ ! -f $manifest_dir/node_modules/.package-lock.json ] || [ $manifest_dir/package-lock.json -nt $manifest_dir/node_modules/.package-lock.json ]; then
  (cd $manifest_dir && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "deps: manifest validator present"
fi
