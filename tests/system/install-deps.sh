#!/bin/bash
# Install what the package build (tests/package/build-deb.sh) and the system
# tests (tests/system/*.sh) need: debhelper, lintian, mmdebstrap,
# systemd-nspawn, qemu-user-static with binfmt-support for the armhf roots.
set -euo pipefail

packages=(
    debhelper dpkg-dev fakeroot lintian file bc
    mmdebstrap arch-test systemd-container qemu-user-static binfmt-support
    # build dependencies of the package (debian/control)
    meson ninja-build pkg-config libcli11-dev libfmt-dev libspdlog-dev
    nettle-dev pps-tools systemd
)
exec "$(dirname "$0")/../apt-install-missing.sh" system/install-deps "${packages[@]}"
