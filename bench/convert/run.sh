#!/usr/bin/env bash
# Time and peak RSS of `msteams-core convert` on each crafted hostile input of issue 11 #6 (inputs.py) at 16 KiB,
# 128 KiB and 500 KiB, with /usr/bin/time -v. Prints a Markdown table; fails if any run crashes or goes over
# 256 MB of RSS.
# usage: bench/convert/run.sh [MSTEAMS_CORE]      (default build/msteams-core; `make core` builds it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
core=${1:-$here/../../build/msteams-core}
limit_kb=$((256 * 1024))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| input | direction | size | exit | wall s | user s | peak RSS MB | output bytes |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
failed=0
while read -r name direction; do
  case $direction in
    markdown) args=(--from markdown --to teams-html) ;;
    teams-html) args=(--from teams-html --to markdown) ;;
    message-json) args=(--from teams-html --to markdown --message-json) ;;
  esac
  for size in 16384 131072 512000; do
    python3 "$here/inputs.py" "$name" "$size" > "$tmp/in"
    set +e
    /usr/bin/time -v -o "$tmp/time" "$core" convert "${args[@]}" < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    set -e
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time" | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    user=$(awk -F': ' '/User time/ {print $2}' "$tmp/time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
    printf '| %s | %s | %d KiB | %d | %.2f | %.2f | %.1f | %d |\n' "$name" "$direction" $((size / 1024)) "$rc" \
      "$wall" "$user" "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" "$(stat -c %s "$tmp/out")"
    # Exit 1 with a message is an answer (the deep JSON is refused); a signal (>= 128) is a crash.
    if ((rc >= 128)) || ((rss > limit_kb)); then
      failed=1
    fi
  done
done < <(python3 "$here/inputs.py" --list)
exit $failed
