# MS Teams plugin for Mattermost: Go shim + C++ core + webapp.
#
#   make deps         install the Debian and npm packages the build needs (idempotent)
#   make              build everything (core, shim, webapp)
#   make dist         the plugin bundle: dist/com.mattermost.msteams-<version>.tar.gz
#   make test         every test: unit (C++, also under ASan+UBSan), shim, webapp, end to end with Mattermost
#   make check-style  formatting and static checks (clang-tidy on the core sources a change touches)
#   make tidy         the same, clang-tidy on every core source
#   make demo         the bridge running end to end on this machine
#   make bench        throughput, latency and Graph cost, end to end (bench/); BENCH_FLAGS adds flags
#   make fuzz         every libFuzzer target (tests/fuzz) for FUZZ_SECONDS each (default 60; FUZZ_RUNS=N stops
#                     a target after N executions, FUZZ_TARGETS picks targets, FUZZ_WORKERS=N processes each)
#   make chaos        fault experiments end to end, both directions (tests/chaos/); CHAOS_FLAGS adds flags
#   make clean

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

PLUGIN_ID      := $(shell python3 -c 'import json;print(json.load(open("plugin.json"))["id"])')
PLUGIN_VERSION := $(shell python3 -c 'import json;print(json.load(open("plugin.json"))["version"])')
BUNDLE         := dist/$(PLUGIN_ID)-$(PLUGIN_VERSION).tar.gz

BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS           ?= $(shell nproc)
export GOFLAGS := -trimpath -buildvcs=false
export GOTOOLCHAIN := local

CORE_BIN := $(BUILD_DIR)/msteams-core
SHIM_BIN := server/dist/plugin-linux-amd64
WEBAPP_BUNDLE := webapp/dist/main.js

.PHONY: all deps core shim webapp proto dist bundle test test-unit test-core test-asan test-shim test-webapp \
        test-e2e check-style tidy demo demo-run test-all clean fuzz

all: core shim webapp

deps:
	@.ci/deps.sh

# --- C++ core ---------------------------------------------------------------------------------------------------
$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMSTEAMS_STATIC=ON -DMSTEAMS_WERROR=ON >/dev/null

core: $(BUILD_DIR)/build.ninja
	@echo "=== core"
	@ninja -C $(BUILD_DIR) -j $(JOBS) > $(BUILD_DIR)/ninja.log 2>&1 || { grep -v "requires at runtime the shared libraries" $(BUILD_DIR)/ninja.log | tail -60; exit 1; }

$(ASAN_BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMSTEAMS_SANITIZE=ON -DMSTEAMS_WERROR=ON >/dev/null

# --- fuzzing: clang-19 + libFuzzer, a build directory of its own (tests/fuzz/CMakeLists.txt says why) ----------
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS   ?= 60
FUZZ_TARGETS   ?=

$(FUZZ_BUILD_DIR)/build.ninja: CMakeLists.txt tests/fuzz/CMakeLists.txt
	cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-19 \
	  -DCMAKE_CXX_COMPILER=clang++-19 -DMSTEAMS_FUZZ=ON -DMSTEAMS_BUILD_TESTS=OFF >/dev/null

fuzz: $(FUZZ_BUILD_DIR)/build.ninja
	@echo "=== fuzz ($(FUZZ_SECONDS)s per target)"
	@ninja -C $(FUZZ_BUILD_DIR) -j $(JOBS) fuzz_targets > $(FUZZ_BUILD_DIR)/ninja.log 2>&1 \
	  || { tail -60 $(FUZZ_BUILD_DIR)/ninja.log; exit 1; }
	@tests/fuzz/run.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# --- Go shim ----------------------------------------------------------------------------------------------------
proto:
	@shim/generate.sh

shim: proto
	@echo "=== shim"
	@mkdir -p server/dist
	cd shim && CGO_ENABLED=0 go build -ldflags='-s -w' -o ../$(SHIM_BIN) .

# --- webapp -----------------------------------------------------------------------------------------------------
webapp/node_modules/.package-lock.json: webapp/package-lock.json
	cd webapp && npm ci --no-audit --no-fund --loglevel=error

webapp: webapp/node_modules/.package-lock.json
	@echo "=== webapp"
	cd webapp && npx tsc --noEmit && NODE_ENV=production node build.mjs

# --- bundle -----------------------------------------------------------------------------------------------------
dist: all
	@.ci/bundle.sh "$(BUNDLE)" "$(CORE_BIN)" "$(SHIM_BIN)" "$(WEBAPP_BUNDLE)"

bundle: dist

# --- tests ------------------------------------------------------------------------------------------------------
# `make test` and `make demo` do the whole set-up on a fresh machine: deps first, then the rest in a new make (so
# the build rules see the installed tools).
test: deps
	@$(MAKE) --no-print-directory test-all

test-all: dist $(ASAN_BUILD_DIR)/build.ninja
	@tests/run-all.sh "$(BUNDLE)"

# The [pg] tests get a throwaway PostgreSQL of their own.
test-core: core
	tests/layering.sh $(BUILD_DIR)
	tests/ctest-covers-all.sh $(BUILD_DIR)
	tests/with-postgres.sh bash -c 'cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)'

test-asan: $(ASAN_BUILD_DIR)/build.ninja
	ninja -C $(ASAN_BUILD_DIR) -j $(JOBS) core_tests
	tests/ctest-covers-all.sh $(ASAN_BUILD_DIR)
	tests/with-postgres.sh bash -c 'cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS)'

test-shim: proto
	cd shim && go vet ./... && go test -race ./...

test-webapp: webapp
	cd webapp && npx vitest run && npm run --silent test:browser:dist

# E2E_FLAGS adds flags of tests/e2e (-compat: the run on the oldest Mattermost, without the load experiments).
E2E_FLAGS ?=
test-e2e: dist
	cd tests/e2e && go test -count=1 -timeout 20m ./... -args -bundle=$(CURDIR)/$(BUNDLE) $(E2E_FLAGS)

check-style: proto webapp/node_modules/.package-lock.json
	@.ci/check-style.sh

# check-style with clang-tidy on every core source rather than the changed ones (about 15 minutes on one core).
tidy: core proto webapp/node_modules/.package-lock.json
	@TIDY_ALL=1 .ci/check-style.sh

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: dist
	@tests/demo/run.sh "$(BUNDLE)"

# Inbound (Teams → Mattermost: 20 chats, 10 messages/s, 30 s), then outbound (Mattermost → Teams: a burst of 60
# posts into one DM, then 20 DMs at 10 posts/s for 30 s), each on a fresh server; e.g. BENCH_FLAGS='-rates 10,20',
# BENCH_FLAGS='-scenario outbound -burst 200'. Writes bench/results/<scenario>.json and prints a Markdown summary
# each; fails on lost or duplicated messages (outbound: also out of order, or echoed back into Mattermost).
BENCH_FLAGS ?=
.PHONY: bench
bench: dist
	cd bench && go build -o $(CURDIR)/$(BUILD_DIR)/msteams-bench ./cmd/msteams-bench
	$(BUILD_DIR)/msteams-bench -scenario all -bundle $(BUNDLE) $(BENCH_FLAGS)

# Fault experiments (tests/chaos): core kill -9, PostgreSQL stopped, Mattermost restarted, 429/5xx storms, a late
# answer, dropped and tripled notifications, downtime, a delete then a crash, edits under faults; each in fresh chats
# with a load both ways. Prints a table and fails on any loss, duplicate or order violation. E.g. CHAOS_FLAGS=-short
# (what `make test` runs), CHAOS_FLAGS='-run core-kill,storm -n 300', CHAOS_FLAGS=-list.
CHAOS_FLAGS ?=
.PHONY: chaos
chaos: dist
	cd tests/chaos && go build -o $(CURDIR)/$(BUILD_DIR)/msteams-chaos .
	$(BUILD_DIR)/msteams-chaos -bundle $(BUNDLE) $(CHAOS_FLAGS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(FUZZ_BUILD_DIR) dist server/dist webapp/dist shim/gen
