#!/bin/bash
# Install what the package build (tests/package/build-deb.sh) and the system
# tests (tests/system/*.sh) need: debhelper, lintian, mmdebstrap,
# systemd-nspawn, qemu-user-static with binfmt-support for the armhf roots.
set -euo pipefail

packages=(
    debhelper dpkg-dev fakeroot lintian file bc
    mmdebstrap arch-test systemd-container qemu-user-static binfmt-support
    # build dependencies of the package (debian/control)
    meson ninja-build pkg-config libcli11-dev libfmt-dev libspdlog-dev libsystemd-dev
    libtomlplusplus-dev pps-tools systemd
)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system/install-deps: missing ${missing[*]}; run as root first" >&2
    exit 1
fi
echo "system/install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The apt lock is shared with whoever else installs on this machine: wait.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
