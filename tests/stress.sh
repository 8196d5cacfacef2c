#!/bin/bash
# The suites under load (issue 17, Done-when 4; tests/README.md, "Under
# load"): the plain build's suites RUNS times in a row, and the sanitizer
# build's once beside the first of them (as CI runs the two; it also keeps
# the whole at about an hour), while `stress-ng --cpu 2` keeps both CPUs
# busy. A test that fails only here depends on the machine's load. No test
# is retried. Run after tests/run.sh (or a build of build/ and
# build-sanitize/); it builds nothing.
#
#   tests/stress.sh [RUNS]        default 3
#
# Each run's meson log is kept as build/logs/stress-DIR-N.txt; the summary,
# one line per run, ends the output. Exit 0 when every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
runs=${1:-3}

if ! command -v stress-ng >/dev/null; then
    apt-get install -y --no-install-recommends stress-ng >/dev/null ||
        { echo "FAIL: stress-ng is not installed and apt-get could not install it" >&2; exit 1; }
fi
for dir in build build-sanitize; do
    [ -f "$dir/build.ninja" ] || { echo "FAIL: $dir is not built (tests/run.sh)" >&2; exit 1; }
done

mkdir -p build/logs
stress-ng --cpu 2 --timeout 0 --quiet &
load=$!
trap 'kill "$load" 2>/dev/null; wait "$load" 2>/dev/null' EXIT

status=0
summary=()
suite() { # DIR N
    local dir=$1 n=$2 log start rc counts
    log=build/logs/stress-$dir-$n.txt
    start=$(date +%s)
    NTPSEC_ROOT="$top/$dir/ntpsec-root" meson test -C "$dir" --no-rebuild --print-errorlogs \
        --num-processes 2 > "$log" 2>&1
    rc=$?
    counts=$(grep -E '^(Ok|Fail|Timeout):' "$log" | tr -s ' ' | tr '\n' ' ')
    summary+=("$dir run $n: exit $rc, $((($(date +%s) - start))) s, $counts")
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$log"
    fi
}
# The sanitizer suite in a subshell beside the first plain run: its line
# comes back through a file.
(suite build-sanitize 1; printf '%s\n' "${summary[@]}" > build/logs/stress-sanitizer.txt
 exit "$status") &
sanitizer=$!
for n in $(seq 1 "$runs"); do
    suite build "$n"
    if [ "$n" -eq 1 ]; then
        wait "$sanitizer" || status=1
        summary+=("$(cat build/logs/stress-sanitizer.txt)")
    fi
done
printf '%s\n' "${summary[@]}"
exit "$status"
