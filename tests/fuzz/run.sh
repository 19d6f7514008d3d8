#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each and prints a table: executions, crashes, timeouts, peak
# RSS. The seed corpus (tests/fuzz/corpus/<target>) is copied into BUILD_DIR/fuzz-corpus/<target>, where the
# corpus grows from run to run; anything found is written to BUILD_DIR/fuzz-artifacts/<target>/ (crash-*,
# timeout-*, oom-*: reproduce with `BUILD_DIR/tests/fuzz/<target> FILE`). Exits non-zero on any finding.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# FUZZ_RUNS=N also stops a target after N executions (whichever comes first), for runs with a goal in executions.
# FUZZ_WORKERS=N runs N processes per target on one corpus, each picking up what the others add (-reload). They
# share FUZZ_RUNS; the table sums their executions and shows the highest peak RSS. Logs: BUILD_DIR/fuzz-<t>.<i>.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$1 seconds=$2
shift 2
targets=("$@")
((${#targets[@]})) || targets=(fuzz_from_teams fuzz_to_teams fuzz_receiver fuzz_url fuzz_conninfo fuzz_config fuzz_rich fuzz_png)

# Per input: 10 s (a converter takes milliseconds on the largest input); 2 GB of RSS. Inputs up to 64 KiB, enough
# to reach every budget of the converters.
timeout=${FUZZ_TIMEOUT:-10}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}
max_len=${FUZZ_MAX_LEN:-65536}
runs=${FUZZ_RUNS:--1}
workers=${FUZZ_WORKERS:-1}
# No allocation stacks: ASan records a stack trace for every malloc and free, which took a third of fuzz_from_teams'
# time (the HTML parser allocates per node); without them it runs about 2.5 times as many inputs per second. A
# finding still stops the run with its own stack; reproducing it (`BUILD_DIR/tests/fuzz/<target> FILE`) gives the
# allocation stacks too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}

failed=0
rows=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/$t"
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
  touch "$build/fuzz-$t.started"  # findings of earlier runs stay for reproduction but are not counted again
  per_worker=$runs
  ((runs > 0)) && per_worker=$(((runs + workers - 1) / workers))
  pids=() logs=()
  for ((i = 0; i < workers; i++)); do
    log="$build/fuzz-$t.log"
    ((workers > 1)) && log="$build/fuzz-$t.$i.log"
    logs+=("$log")
    "$bin" "$corpus" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_limit" -max_len="$max_len" \
      -runs="$per_worker" -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do
    wait "$p" || rc=$?
  done
  execs=$(cat "${logs[@]}" | grep -o 'stat::number_of_executed_units: *[0-9]*' | grep -o '[0-9]*$' |
    awk '{ s += $1; n++ } END { if (n) print s }')
  rss=$(cat "${logs[@]}" | grep -o 'stat::peak_rss_mb: *[0-9]*' | grep -o '[0-9]*$' | sort -n | tail -1)
  crashes=$(find "$artifacts" -newer "$build/fuzz-$t.started" \( -name 'crash-*' -o -name 'oom-*' -o -name 'leak-*' \) |
    wc -l)
  timeouts=$(find "$artifacts" -newer "$build/fuzz-$t.started" \( -name 'timeout-*' -o -name 'slow-unit-*' \) | wc -l)
  rows+=("$(printf '| %-16s | %12s | %7s | %8s | %8s |' "$t" "${execs:-?}" "$crashes" "$timeouts" "${rss:-?} MB")")
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ] || [ "$timeouts" != 0 ]; then
    failed=1
    echo "fuzz: $t found something (exit $rc); see ${logs[*]} and $artifacts" >&2
    cat "${logs[@]}" | grep -m5 -E 'ERROR|SUMMARY|property violated' >&2
  fi
done
echo "| target           |   executions | crashes | timeouts | peak RSS |"
echo "|------------------|--------------|---------|----------|----------|"
printf '%s\n' "${rows[@]}"
exit $failed
