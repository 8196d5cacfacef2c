#!/bin/bash
# Install what building and testing shmrefclock needs, from Debian 12's
# archive, when it is missing. Safe to run again: it installs nothing twice.
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config g++ libcli11-dev libspdlog-dev libfmt-dev
    # meson compiles through ccache when it is on PATH (tests/run.sh)
    ccache
    libsystemd-dev libtomlplusplus-dev nettle-dev nlohmann-json3-dev pps-tools
    # the Python module (python/): pybind11 and the interpreter's headers
    pybind11-dev python3-dev
    # tests
    catch2 util-linux python3 chrony gpsd systemd man-db groff-base
    # leap seconds: tzdata's leap-seconds.list, libfaketime for the daemon's date
    tzdata faketime libfaketime
    # /metrics and the status page: promtool and a Prometheus server, a
    # headless browser, an HTML checker
    prometheus chromium tidy
    # fuzzing and the sanitizer build
    clang libclang-rt-14-dev
)

exec "$(dirname "$0")/apt-install-missing.sh" install-deps "${packages[@]}"
