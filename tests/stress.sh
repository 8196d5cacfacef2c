#!/bin/bash
# The suites under load (issue 17, Done-when 4; tests/README.md, "Flaky
# tests"): the plain build's suites RUNS times in a row, then the sanitizer
# build's once, each while `stress-ng --cpu 2` keeps both CPUs busy beside
# them. A test that fails only here depends on the machine's load. No test
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
for n in $(seq 1 "$runs"); do
    suite build "$n"
done
suite build-sanitize 1
printf '%s\n' "${summary[@]}"
exit "$status"
