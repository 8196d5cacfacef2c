#!/bin/bash
# Install what building and testing shmrefclock needs, from Debian 12's
# archive, when it is missing. Safe to run again: it installs nothing twice.
#
#   tests/install-deps.sh            everything tests/run.sh needs
#   tests/install-deps.sh --build    only what building the daemon needs
#                                    (tests/demo.sh: the quick start does not
#                                    wait for a browser and a Prometheus)
set -euo pipefail

build=(
    meson ninja-build pkg-config g++ libcli11-dev libspdlog-dev libfmt-dev
    nettle-dev nlohmann-json3-dev pps-tools
    # meson compiles through ccache when it is on PATH (tests/run.sh)
    ccache
)
tests=(
    # the Python module (python/): pybind11 and the interpreter's headers
    pybind11-dev python3-dev
    # tests
    catch2 util-linux python3 chrony gpsd systemd man-db groff-base
    # leap seconds: tzdata's leap-seconds.list, libfaketime for the daemon's date
    tzdata faketime libfaketime
    # /metrics and the status page: promtool and a Prometheus server, a
    # headless browser, an HTML checker
    prometheus chromium tidy
    # fuzzing and the sanitizer build; the toml-test suite's TOML files,
    # which this Go package ships, seed the config fuzz target
    clang libclang-rt-14-dev golang-github-burntsushi-toml-dev
)

case "${1:-}" in
--build) packages=("${build[@]}") ;;
"") packages=("${build[@]}" "${tests[@]}") ;;
*)
    echo "usage: $0 [--build]" >&2
    exit 2
    ;;
esac
exec "$(dirname "$0")/apt-install-missing.sh" install-deps "${packages[@]}"
