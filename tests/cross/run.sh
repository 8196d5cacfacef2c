#!/bin/bash
# Cross builds and their unit tests under qemu-user: arm64, armhf with the
# 32-bit time_t of Debian 12, armhf with the 64-bit time_t of Debian 13
# (-Dtime64=true). Each builds in build-cross-FLAVOUR with -Werror; the Catch2
# suite runs through the cross file's exe_wrapper (unshare --ipc, then
# qemu-aarch64-static / qemu-arm-static, with the multiarch libraries the
# build linked; see cross/*.ini). Meson's testlog.json of
# each build dir is what tests/run.sh counts.
#
# Each flavour is configured with the options of the README's own cross-build
# command (section "Install", `meson setup build-... --cross-file ...`), read
# from README.md, so that a command a user copies is the one CI builds; only
# what CI needs on top is added (-Werror, no debug information, the tests,
# ccache). A README without the three commands fails here.
#
# Without debug information (-Ddebug=false): GCC's code is the same with and
# without -g, and -g cost a fifth of each build's compile time. As a unity
# build (-Dunity=on, four files per compile): the headers every file
# includes (nlohmann-json, spdlog, fmt, CLI11, Catch2) are parsed a quarter
# as often, a quarter less CPU time (a native build: 283 s against 376 s);
# the plain build stays file by file, so that each file is still compiled
# on its own includes.
#
# Usage: tests/cross/run.sh [--build-only|--test-only] [FLAVOUR...]
#   (default: all three, built and tested). tests/run.sh builds them with
#   --build-only beside the native tests and runs --test-only afterwards.
set -uo pipefail
cd "$(dirname "$0")/../.."

build=yes
run_tests=yes
case "${1:-}" in
--build-only) run_tests=no; shift ;;
--test-only) build=no; shift ;;
esac

if [ "$build" = yes ]; then
    tests/cross/install-deps.sh || exit 1
fi

# The README's build directory names, per flavour.
declare -A readme_dir=([arm64]=build-arm64 [armhf]=build-armhf [armhf-time64]=build-armhf64)
declare -A cross_file=() options=()
for flavour in "${!readme_dir[@]}"; do
    # `meson setup DIR --cross-file FILE OPTIONS...   # comment`
    line=$(sed -n "s/^meson setup ${readme_dir[$flavour]} \(--cross-file [^#]*\).*/\1/p" README.md)
    read -r -a words <<< "$line"
    if [ "${#words[@]}" -lt 2 ] || [ "${words[0]}" != --cross-file ]; then
        echo "README.md has no 'meson setup ${readme_dir[$flavour]} --cross-file ...' command" >&2
        exit 1
    fi
    cross_file[$flavour]=${words[1]}
    options[$flavour]=${words[*]:2}
done

flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(arm64 armhf armhf-time64)
status=0
for flavour in "${flavours[@]}"; do
    dir=build-cross-$flavour
    if [ "$build" = no ]; then
        [ -f "$dir/build.ninja" ] || { echo "$dir: not built" >&2; status=1; continue; }
        start=$(date +%s)
        rm -f "$dir/meson-logs/testlog.json"
        meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 || status=1
        echo "$dir: tests under qemu $(($(date +%s) - start)) s"
        continue
    fi
    # Through ccache when there is one (tests/run.sh sets it up): meson takes
    # it from PATH only for native compilers, so a second cross file names it
    # before the first's C and C++ compilers, whose entries it overrides.
    cross_files=(--cross-file "${cross_file[$flavour]}")
    if command -v ccache >/dev/null; then
        mkdir -p build/cross-ccache
        overlay=build/cross-ccache/$flavour.ini
        { echo "[binaries]"
          sed -n "s/^\(c\|cpp\) = '\(.*\)'\$/\1 = ['ccache', '\2']/p" "${cross_file[$flavour]}"
        } > "$overlay"
        cross_files+=(--cross-file "$overlay")
    fi
    echo "=== $dir: cross build (${cross_file[$flavour]} ${options[$flavour]})"
    start=$(date +%s)
    rm -f "$dir/meson-logs/testlog.json"
    # A directory whose configuration was interrupted has no build.ninja and
    # cannot be set up again in place: start it afresh.
    if [ -d "$dir" ] && [ ! -f "$dir/build.ninja" ]; then
        rm -rf "$dir"
    fi
    # shellcheck disable=SC2086 # options is a list of words
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "${cross_files[@]}" -Dwerror=true -Ddebug=false -Dunity=on \
            -Dtests=enabled ${options[$flavour]} > "$dir.setup.log"
    else
        meson setup "$dir" "${cross_files[@]}" -Dwerror=true -Ddebug=false -Dunity=on \
            -Dtests=enabled ${options[$flavour]} > "$dir.setup.log"
    fi || { cat "$dir.setup.log"; echo "meson setup failed in $dir" >&2; status=1; continue; }
    mv "$dir.setup.log" "$dir/cross-setup.log"
    if ! ninja -C "$dir" -j 2 > "$dir/cross-ninja.log" 2>&1; then
        tail -n 40 "$dir/cross-ninja.log"
        echo "build failed in $dir" >&2
        status=1
        continue
    fi
    built=$(date +%s)
    if [ "$run_tests" = no ]; then
        echo "$dir: build $((built - start)) s"
        continue
    fi
    meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
    echo "$dir: build $((built - start)) s, tests under qemu $(($(date +%s) - built)) s"
done
exit $status
