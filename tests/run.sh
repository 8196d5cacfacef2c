#!/bin/bash
# The test command (README, .ci/run): install what is missing, then build and
# run every suite twice, once plain with -Werror and once with ASan + UBSan
# (-fno-sanitize-recover=all), then run the fuzz targets. Ends with one line
# "N passed, N failed, N skipped" counted from meson's testlog.json files.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tests/install-deps.sh || exit 1

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

python3 - "$fuzz_log" build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
fuzz, logs = sys.argv[1], sys.argv[2:]
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
with open(fuzz) as f:
    for line in f:
        if line.startswith("OK "):
            passed += 1
        else:
            print(f"fuzz: {line.strip()}")
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
