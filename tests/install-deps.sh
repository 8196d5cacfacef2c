#!/bin/bash
# Install what building and testing shmrefclock needs, from Debian 12's
# archive, when it is missing. Safe to run again: it installs nothing twice.
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config g++ libcli11-dev libspdlog-dev libfmt-dev
    libsystemd-dev libtomlplusplus-dev pps-tools
    # tests
    catch2 util-linux python3 chrony gpsd systemd man-db groff-base
    # fuzzing and the sanitizer build
    clang libclang-rt-14-dev
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
    echo "install-deps: missing ${missing[*]}; run as root (or install them) first" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# chrony and gpsd come for their binaries only: the tests start private
# instances, so the packaged services must not start (policy-rc.d 101).
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=yes
fi
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
if [ "$created_policy" = yes ]; then
    rm -f "$policy"
fi
