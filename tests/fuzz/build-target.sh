#!/bin/bash
# Compile one libFuzzer target against the whole I/O-free layer, src/core/,
# and the sample arithmetic it uses (src/lib/sample.cpp): every run-fuzz*
# script builds its target this way, so a new file in the core is linked
# without a list to keep in step. A target that came to need a source or an
# output (docs/design.md, "Layers") fails to link here, on purpose.
#
#   tests/fuzz/build-target.sh OUTPUT_DIR BINARY_NAME TARGET.cpp [MORE.cpp...]
#
# Needs clang with libFuzzer (Debian: clang-14, libclang-rt-14-dev); CXX
# overrides the compiler.
set -eu

if [ $# -lt 3 ]; then
    echo "usage: $0 OUTPUT_DIR BINARY_NAME TARGET.cpp [MORE.cpp...]" >&2
    exit 2
fi
out=$1
name=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${CXX:-clang++}

mkdir -p "$out/include"
# The header meson generates. The release date (the parser's rollover floor)
# is taken from meson.build's release_date line; the rest does not matter to
# the core.
release=$(sed -n "s/^release_date = \['\([0-9]*\)', '0*\([0-9]*\)', '0*\([0-9]*\)'\]$/\1 \2 \3/p" "$root/meson.build")
# shellcheck disable=SC2086
set -- $release "$@"
if [ -z "$release" ]; then
    echo "$0: no release_date line in $root/meson.build" >&2
    exit 2
fi
year=$1 month=$2 day=$3
shift 3
new=$out/include/config_h.hpp.new.$$
cat >"$new" <<H
#pragma once
#define SHMREFCLOCK_VERSION "fuzz"
#define SHMREFCLOCK_RELEASE_YEAR $year
#define SHMREFCLOCK_RELEASE_MONTH ${month}u
#define SHMREFCLOCK_RELEASE_DAY ${day}u
H
# Rewritten only when it changed, so that ccache's direct mode still trusts it.
if cmp -s "$new" "$out/include/config_h.hpp"; then
    rm "$new"
else
    mv "$new" "$out/include/config_h.hpp"
fi

# Each source compiles to its own object under OUTPUT_DIR/obj, two at a time
# and through ccache when there is one (tests/run.sh sets it up): every
# target links the same core objects, so the second and third target only
# compile their own file. All sources in one clang command took about
# 2 minutes a target, on one core. Line tables only (-gline-tables-only):
# a finding's stack trace keeps its file:line, and full -g made every
# object slower to build.
flags=(-std=c++20 -gline-tables-only -O1 -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Werror
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
       -DFMT_HEADER_ONLY -DSPDLOG_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL
       -I"$out/include" -I"$root/include" -I"$root/src")
launcher=()
command -v ccache >/dev/null && launcher=(ccache)
mkdir -p "$out/obj"
objects=()
jobs_running=0
status=0
for source in "$@" "$root"/src/core/*.cpp "$root/src/lib/sample.cpp"; do
    source=$(cd "$(dirname "$source")" && pwd)/$(basename "$source")
    relative=${source#"$root"/}
    object=$out/obj/${relative//\//_}.o
    objects+=("$object")
    "${launcher[@]}" "$cxx" "${flags[@]}" -c "$source" -o "$object" &
    jobs_running=$((jobs_running + 1))
    if [ "$jobs_running" -ge "${FUZZ_BUILD_JOBS:-2}" ]; then
        wait -n || status=1
        jobs_running=$((jobs_running - 1))
    fi
done
while [ "$jobs_running" -gt 0 ]; do
    wait -n || status=1
    jobs_running=$((jobs_running - 1))
done
[ "$status" -eq 0 ] || { echo "$0: compiling $name failed" >&2; exit 1; }
# shellcheck disable=SC2046
"$cxx" -fsanitize=fuzzer,address,undefined "${objects[@]}" $(pkg-config --libs nettle) \
    -o "$out/$name"
