#!/bin/bash
# Install what the cross builds need (tests/cross/run.sh): Debian's cross
# toolchains, qemu-user to run the tests, and the target architecture's -dev
# packages through multiarch (dpkg --add-architecture). fmt and spdlog are
# used header-only, but meson finds them through the target's pkg-config
# files, so they come as :arm64 / :armhf; nettle is linked. libmicrohttpd is
# built from subprojects/ with the cross C compiler. CLI11 and Catch2 are header-only and
# Multi-Arch: foreign: the build machine's packages serve every target.
# The cross builds use -Dsystemd=disabled (the unit files are
# architecture-independent and tested natively); no build links libsystemd.
set -euo pipefail

arches=(arm64 armhf)
packages=(
    gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf
    g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static
    meson ninja-build pkg-config libcli11-dev catch2 util-linux
)
for arch in "${arches[@]}"; do
    packages+=("libfmt-dev:$arch" "libspdlog-dev:$arch" "nettle-dev:$arch")
done

missing_arch=()
for arch in "${arches[@]}"; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        missing_arch+=("$arch")
    fi
done
if [ ${#missing_arch[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "cross/install-deps: dpkg --add-architecture ${missing_arch[*]} needed; run as root first" >&2
        exit 1
    fi
    for arch in "${missing_arch[@]}"; do
        dpkg --add-architecture "$arch"
    done
fi
exec "$(dirname "$0")/../apt-install-missing.sh" cross/install-deps "${packages[@]}"
