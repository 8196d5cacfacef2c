#!/bin/sh
# fetch-ntpsec.sh DESTDIR: unpack Debian's NTPsec (ntpd) into DESTDIR.
#
# NTPsec conflicts with chrony as a package, so the tests run it from an
# unpacked tree instead of installing it: `apt-get download` + `dpkg -x`.
# Idempotent: does nothing when DESTDIR/usr/sbin/ntpd already exists.
# apt's warning about the `_apt` sandbox user being unable to read the
# download directory is harmless (the download runs as root).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DESTDIR" >&2
    exit 2
fi
dest=$1

if [ -x "$dest/usr/sbin/ntpd" ]; then
    exit 0
fi

for tool in apt-get dpkg; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$0: $tool not found: cannot fetch NTPsec" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fetch-ntpsec.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if ! (cd "$work" && apt-get download ntpsec python3-ntp); then
    # The package lists may be missing on a fresh machine.
    # A mirror mid-sync can fail one unrelated index (exit 100): go on
    # with what was fetched; the download below says if NTPsec is missing.
    apt-get update || echo "$0: apt-get update reported errors; trying the download anyway" >&2
    (cd "$work" && apt-get download ntpsec python3-ntp)
fi

mkdir -p "$dest"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$dest"
done

if [ ! -x "$dest/usr/sbin/ntpd" ]; then
    echo "$0: $dest/usr/sbin/ntpd missing after unpacking" >&2
    exit 1
fi
"$dest/usr/sbin/ntpd" --version
