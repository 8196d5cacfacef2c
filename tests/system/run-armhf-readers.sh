#!/bin/bash
# Done-when 2 of issue 9, as one command (not part of tests/run.sh: the two
# armhf roots take about 10 minutes each to make the first time): build the
# armhf daemon in both time_t flavours (tests/cross/run.sh), then have the
# armhf chronyd and ntpshmmon of a Debian 12 armhf root read the 32-bit
# time_t build, and those of a Debian 13 armhf root the 64-bit one.
# Ends with "N passed, N failed" over the steps.
set -uo pipefail
cd "$(dirname "$0")/../.."

tests/system/install-deps.sh || exit 1
tests/cross/run.sh armhf armhf-time64 || exit 1
mkdir -p build/system
results=build/system/armhf-results.txt
: > "$results"
status=0
for flavour in bookworm:build-cross-armhf trixie:build-cross-armhf-time64; do
    start=$(date +%s)
    echo "=== armhf readers: Debian ${flavour%%:*} armhf root, ${flavour#*:}"
    tests/system/armhf-readers.sh "${flavour%%:*}" "${flavour#*:}/src/shmrefclock" "$results" ||
        status=1
    echo "=== armhf readers ${flavour%%:*}: $(($(date +%s) - start)) s"
done
echo "$(grep -c '^OK ' "$results") passed, $(grep -vc '^OK ' "$results") failed"
exit $status
