#!/bin/bash
# The test command (README, .ci/run): install what is missing, then build and
# run every suite twice, once plain with -Werror and once with ASan + UBSan
# (-fno-sanitize-recover=all), then run the fuzz targets, the cross builds'
# unit tests under qemu-user, the Debian package build with lintian and the
# system tests in systemd-nspawn containers (tests/README.md). Ends with one line
# "N passed, N failed, N skipped" counted from meson's testlog.json files.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tests/install-deps.sh || exit 1

# Compile through ccache (meson uses it when it is on PATH; tests/cross/run.sh
# names it in the cross files): every suite, the cross builds and the package
# build compile the same sources again, and CI builds a fresh clone each time.
# Paths are hashed relative to the clone, so another clone of the same commit
# finds the objects. The cache lives outside the clone, and outside HOME,
# which debhelper moves during the package build.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/shmrefclock-tests/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=true

fuzz_seconds=${FUZZ_SECONDS:-60}
status=0

setup() { # DIR ARGS...
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

suite() { # DIR ARGS...
    local dir=$1
    shift
    echo "=== $dir: meson setup $*"
    rm -f "$dir/meson-logs/testlog.json"
    if ! setup "$dir" -Dwerror=true -Dsystemd=enabled -Dtests=enabled "$@"; then
        echo "meson setup failed in $dir" >&2
        status=1
        return
    fi
    if ! ninja -C "$dir"; then
        echo "build failed in $dir" >&2
        status=1
        return
    fi
    tests/integration/fetch-ntpsec.sh "$dir/ntpsec-root" || status=1
    NTPSEC_ROOT="$top/$dir/ntpsec-root" meson test -C "$dir" --print-errorlogs \
        --num-processes 2 || status=1
}

suite build
suite build-sanitize -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fno-sanitize-recover=all

# libFuzzer targets (clang): the NMEA parser and the configuration parser,
# each for FUZZ_SECONDS. Each run counts as one test in the summary.
fuzz_log=build/fuzz/results.txt
mkdir -p build/fuzz
: > "$fuzz_log"
for target in tests/fuzz/run-fuzz.sh tests/fuzz/run-fuzz-config.sh; do
    echo "=== fuzz: $target for ${fuzz_seconds} s"
    if FUZZ_SECONDS=$fuzz_seconds "$target" build/fuzz > "build/fuzz/$(basename "$target" .sh).log" 2>&1; then
        echo "OK $target" >> "$fuzz_log"
        tail -n 3 "build/fuzz/$(basename "$target" .sh).log"
    else
        echo "FAIL $target" >> "$fuzz_log"
        tail -n 40 "build/fuzz/$(basename "$target" .sh).log"
        status=1
    fi
done

elapsed() { # SINCE: seconds since the date +%s SINCE
    echo "$(($(date +%s) - $1)) s"
}

# Cross builds (issue 9): arm64, armhf with 32-bit time_t, armhf with 64-bit
# time_t; the Catch2 suite of each under qemu-user. Counted from each build
# dir's testlog.json.
stage_start=$(date +%s)
tests/cross/run.sh || status=1
echo "=== cross builds and their unit tests: $(elapsed "$stage_start")"

# The Debian package, then the system tests on it.
# Each step is one line "OK ..." / "FAIL ..." in $system_log.
system_log=build/system/results.txt
mkdir -p build/system
: > "$system_log"
: > build/system/measured.txt
tests/system/install-deps.sh || status=1
stage_start=$(date +%s)
if tests/package/build-deb.sh build/deb; then
    echo "OK package: dpkg-buildpackage -us -uc -b, lintian clean" >> "$system_log"
else
    echo "FAIL package: dpkg-buildpackage or lintian (build/deb/)" >> "$system_log"
    status=1
fi
echo "=== package: $(elapsed "$stage_start")"
deb=$(ls build/deb/shmrefclock_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
for suite in bookworm trixie; do
    stage_start=$(date +%s)
    echo "=== system test: $suite container, systemd as PID 1"
    if [ -z "$deb" ]; then
        echo "FAIL $suite: no package to install" >> "$system_log"
        status=1
    elif ! tests/system/systemd-container.sh "$suite" "$deb" "$system_log"; then
        status=1
    fi
    echo "=== system test $suite: $(elapsed "$stage_start")"
done
# The armhf readers (the armhf chronyd and ntpshmmon of Debian 12 and 13
# armhf roots reading the armhf daemon, all under qemu-user) are a separate
# command, tests/system/run-armhf-readers.sh: making the two armhf roots
# takes about 10 minutes each here, which CI's 45 minutes cannot also hold.
echo "=== measured"
cat build/system/measured.txt

python3 - "$fuzz_log" "$system_log" build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json \
    build-cross-arm64/meson-logs/testlog.json build-cross-armhf/meson-logs/testlog.json \
    build-cross-armhf-time64/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
# fuzz and system: one line per run or step, "OK ..." or "FAIL ...".
fuzz, system, logs = sys.argv[1], sys.argv[2], sys.argv[3:]
for path in logs:
    if not os.path.exists(path):
        print(f"{path}: missing (the build failed)")
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            result = json.loads(line)["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
for name, path in (("fuzz", fuzz), ("system", system)):
    with open(path) as f:
        for line in f:
            if line.startswith("OK "):
                passed += 1
            else:
                print(f"{name}: {line.strip()}")
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
