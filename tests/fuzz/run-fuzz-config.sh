#!/bin/sh
# Build the configuration reader's libFuzzer target and run it for
# FUZZ_SECONDS (default 60), seeded with every shipped and every bad
# configuration file, the inputs in tests/fuzz/config-seeds/ and, when
# Debian's golang-github-burntsushi-toml-dev is installed, the toml-test
# suite's valid and invalid TOML files that it ships.
#
#   tests/fuzz/run-fuzz-config.sh OUTPUT_DIR
#
# The parser is compiled with the fuzzer's coverage instrumentation
# together with the only layer it may use, src/core/ (build-target.sh;
# docs/design.md, "Layers": a source or output that config came to depend on
# would fail to link here). A finding leaves the input in OUTPUT_DIR/artifacts/ and a
# non-zero exit status.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}

mkdir -p "$out/config-corpus" "$out/config-seeds" "$out/artifacts"
# FUZZ_RUN_ONLY=1: the targets are built (tests/run.sh runs this script
# beside run-fuzz.sh, and both would write the same core objects).
if [ -z "${FUZZ_RUN_ONLY:-}" ]; then
    "$here/build-target.sh" "$out" fuzz_config "$here/fuzz_config.cpp" "$root"/src/config/*.cpp
    "$here/build-target.sh" "$out" fuzz_leap_seconds "$here/fuzz_leap_seconds.cpp"
fi
# FUZZ_BUILD_ONLY=1: build both targets and stop (tests/run.sh builds beside
# the tests and fuzzes later).
[ -z "${FUZZ_BUILD_ONLY:-}" ] || exit 0

rm -f "$out/config-seeds/"*
for conf in "$root"/config/*.conf "$root"/config/examples/*.conf "$root"/tests/data/bad-config/*.conf \
    "$root"/tests/fuzz/config-seeds/*; do
    cp "$conf" "$out/config-seeds/$(basename "$(dirname "$conf")")-$(basename "$conf")"
done
toml_test=/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests
if [ -d "$toml_test" ]; then
    find "$toml_test" -name '*.toml' | while read -r case; do
        relative=${case#"$toml_test"/}
        cp "$case" "$out/config-seeds/toml-test-$(printf '%s' "$relative" | tr / -)"
    done
else
    echo "no toml-test suite at $toml_test (golang-github-burntsushi-toml-dev): not a seed"
fi

# Inputs up to 64 KiB: room for deep nesting, long lines and many keys; the
# reader's own limit (256 KiB) is tested by tests/unit/test_toml_reader.cpp.
echo "fuzzing the config reader for $seconds s; corpus $out/config-corpus"
"$out/fuzz_config" \
    -max_total_time="$seconds" \
    -error_exitcode=1 \
    -max_len=65536 \
    -timeout=10 \
    -artifact_prefix="$out/artifacts/" \
    -print_final_stats=1 \
    "$out/config-corpus" "$out/config-seeds"

# The leap-second list, the other file the daemon reads at start and on
# SIGHUP: a small grammar, so a shorter run.
leap_seconds=${FUZZ_LEAP_SECONDS:-20}
mkdir -p "$out/leap-corpus" "$out/leap-seeds"
rm -f "$out/leap-seeds/"*
if [ -f /usr/share/zoneinfo/leap-seconds.list ]; then
    cp /usr/share/zoneinfo/leap-seconds.list "$out/leap-seeds/tzdata"
fi
echo "fuzzing the leap-second list parser for $leap_seconds s; corpus $out/leap-corpus"
"$out/fuzz_leap_seconds" \
    -max_total_time="$leap_seconds" \
    -error_exitcode=1 \
    -max_len=8192 \
    -timeout=10 \
    -artifact_prefix="$out/artifacts/" \
    -print_final_stats=1 \
    "$out/leap-corpus" "$out/leap-seeds"
