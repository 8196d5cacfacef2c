#!/bin/bash
# Install, from Debian's archive, those of the given packages that are not
# installed yet; nothing when all are. Shared by tests/install-deps.sh,
# tests/cross/install-deps.sh and tests/system/install-deps.sh.
#
#   tests/apt-install-missing.sh WHO PACKAGE...
#
# WHO names the caller in messages. Needs root only when something is
# missing. Packaged services (chrony, gpsd) must not start: the tests start
# private instances, so a policy-rc.d that refuses every start is in place
# for the install.
set -euo pipefail

who=$1
shift
missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing ${missing[*]}; run as root (or install them) first" >&2
    exit 1
fi
echo "$who: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=yes
fi
trap '[ "$created_policy" = yes ] && rm -f "$policy"' EXIT
# The apt lock is shared with whoever else installs on this machine: wait.
# A mirror caught mid-sync fails one index (seen: bookworm-security's armhf
# Packages.xz "has unexpected size"), and apt-get update exits 100 though
# every other index is fresh. Try again once, then install from the indexes
# that were fetched: the install itself fails loudly if a package is missing.
if ! apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update -qq; then
    if ! apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update -qq; then
        echo "$who: apt-get update failed for some index (above); installing from those it fetched" >&2
    fi
fi
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
