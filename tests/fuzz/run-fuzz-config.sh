#!/bin/sh
# Build the configuration parser's libFuzzer target and run it for
# FUZZ_SECONDS (default 60), seeded with every shipped and every bad
# configuration file.
#
#   tests/fuzz/run-fuzz-config.sh OUTPUT_DIR
#
# The parser is compiled with the fuzzer's coverage instrumentation
# together with the only layer it may use, src/core/ (docs/design.md,
# "Layers": a source or output that config came to depend on would fail to
# link here); toml++, fmt and spdlog come from
# the system. A finding leaves the input in OUTPUT_DIR/artifacts/ and a
# non-zero exit status.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${CXX:-clang++}
seconds=${FUZZ_SECONDS:-60}

mkdir -p "$out/config-corpus" "$out/config-seeds" "$out/artifacts" "$out/include"
# The generated header the sources include; its values do not matter here.
cat >"$out/include/config_h.hpp" <<'H'
#pragma once
#define SHMREFCLOCK_VERSION "fuzz"
#define SHMREFCLOCK_HAVE_SYSTEMD 0
#define SHMREFCLOCK_RELEASE_YEAR 2026
#define SHMREFCLOCK_RELEASE_MONTH 11u
#define SHMREFCLOCK_RELEASE_DAY 1u
H

# shellcheck disable=SC2046
"$cxx" -std=c++20 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$out/include" -I"$root/include" -I"$root/src" \
    $(pkg-config --cflags tomlplusplus fmt spdlog nettle) \
    "$here/fuzz_config.cpp" "$root"/src/config/*.cpp "$root"/src/core/*.cpp \
    "$root/src/lib/sample.cpp" \
    $(pkg-config --libs tomlplusplus fmt spdlog nettle) \
    -o "$out/fuzz_config"

rm -f "$out/config-seeds/"*
for conf in "$root"/config/*.conf "$root"/config/examples/*.conf "$root"/tests/data/bad-config/*.conf; do
    cp "$conf" "$out/config-seeds/$(basename "$(dirname "$conf")")-$(basename "$conf")"
done

echo "fuzzing the config parser for $seconds s; corpus $out/config-corpus"
"$out/fuzz_config" \
    -max_total_time="$seconds" \
    -error_exitcode=1 \
    -max_len=8192 \
    -timeout=10 \
    -artifact_prefix="$out/artifacts/" \
    -print_final_stats=1 \
    "$out/config-corpus" "$out/config-seeds"

# The leap-second list, the other file the daemon reads at start and on
# SIGHUP: a small grammar, so a shorter run.
leap_seconds=${FUZZ_LEAP_SECONDS:-20}
mkdir -p "$out/leap-corpus" "$out/leap-seeds"
"$cxx" -std=c++20 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/include" -I"$root/src" $(pkg-config --cflags fmt nettle) \
    "$here/fuzz_leap_seconds.cpp" "$root/src/core/leap_seconds.cpp" \
    $(pkg-config --libs fmt nettle) \
    -o "$out/fuzz_leap_seconds"
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
