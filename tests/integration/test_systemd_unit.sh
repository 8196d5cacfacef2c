#!/bin/bash
# Check shmrefclock.service with the real systemd tools:
#   - `systemd-analyze verify` exits 0 and prints nothing on stderr;
#   - `systemd-analyze security --offline=yes` rates the exposure <= 2.0;
#   - the settings that would break the daemon (hide or delete the SysV
#     segments, hide the devices) are not set, and the ones its contract
#     with systemd relies on are.
#
# Usage: test_systemd_unit.sh BUILT_BINARY SERVICE_FILE [MANDIR]
#   BUILT_BINARY  the shmrefclock binary ExecStart= is pointed at (verify
#                 wants an executable that exists)
#   SERVICE_FILE  the unit, configured (build dir) or the @BINDIR@ template
#   MANDIR        optional: directory holding shmrefclock.8 and
#                 shmrefclock.conf.5; then Documentation= is checked too
#                 (otherwise verify runs with --man=no, as the pages are not
#                 installed)
# Exit: 0 pass, 1 fail, 77 skip (systemd-analyze absent).

set -u

max_exposure=2.0

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 BUILT_BINARY SERVICE_FILE [MANDIR]" >&2
    exit 1
fi
binary=$1
service=$2
mandir=${3-}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze not found"
    exit 77
fi
[ -x "$binary" ] || { echo "FAIL: $binary is not an executable file"; exit 1; }
[ -f "$service" ] || { echo "FAIL: $service not found"; exit 1; }
case $binary in
    /*) ;;
    *) binary=$PWD/$binary ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/shmrefclock-unit.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# The copy keeps the unit's name (verify derives the unit type from it) and
# its arguments; only the program path changes (and, in the unconfigured
# template, @SYSCONFDIR@ becomes /etc).
unit=$work/shmrefclock.service
BINARY=$binary awk '
    /^ExecStart=/ { b = ENVIRON["BINARY"]; gsub(/[\\&]/, "\\\\&", b);
                    sub(/^ExecStart=[^ ]*/, "ExecStart=" b) }
    { gsub(/@SYSCONFDIR@/, "/etc"); print }
' "$service" > "$unit" || exit 1

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# --- The settings themselves -------------------------------------------------
# The value of the last assignment of KEY in [Service] (later ones override).
setting() {
    awk -v key="$1" '
        /^\[/ { in_service = ($0 == "[Service]") }
        in_service && index($0, key "=") == 1 { value = substr($0, length(key) + 2) }
        END { print value }
    ' "$unit"
}
is_true() {
    case ${1,,} in
        1 | yes | y | true | t | on) return 0 ;;
        *) return 1 ;;
    esac
}

grep -qF "ExecStart=$binary -c /" "$unit" ||
    fail "ExecStart= does not run $binary -c /...: $(grep '^ExecStart=' "$unit")"
[ "$(setting Type)" = notify ] || fail "Type= is '$(setting Type)', want notify"
[ "$(setting NotifyAccess)" = main ] || fail "NotifyAccess= is '$(setting NotifyAccess)', want main"
[ -n "$(setting WatchdogSec)" ] || fail "WatchdogSec= is not set"
[ "$(setting User)" = shmrefclock ] || fail "User= is '$(setting User)', want shmrefclock"
# These hide the host's SysV IPC namespace, delete the segments under the
# NTP daemon, or hide the serial and PPS devices.
for key in PrivateIPC RemoveIPC DynamicUser PrivateDevices; do
    if is_true "$(setting "$key")"; then
        fail "$key= is set; it breaks the SHM segments or the devices"
    fi
done
[ "$(setting DevicePolicy)" = closed ] || fail "DevicePolicy= is '$(setting DevicePolicy)', want closed"
for class in char-ttyS char-ttyUSB char-ttyACM char-pps; do
    grep -Eq "^DeviceAllow=$class +rw$" "$unit" || fail "no DeviceAllow=$class rw"
done

# --- systemd-analyze verify --------------------------------------------------
if [ -n "$mandir" ]; then
    # man(1) finds the pages through MANPATH in a man8/ man5/ tree.
    mkdir -p "$work/man/man8" "$work/man/man5" || exit 1
    cp "$mandir/shmrefclock.8" "$work/man/man8/" &&
        cp "$mandir/shmrefclock.conf.5" "$work/man/man5/" || exit 1
    verify=(env MANPATH="$work/man" systemd-analyze verify --man=yes)
else
    verify=(systemd-analyze verify --man=no)
fi
(cd "$work" && "${verify[@]}" "$unit") >"$work/verify.out" 2>"$work/verify.err"
rc=$?
echo "measured: ${verify[*]} -> exit $rc, $(wc -c <"$work/verify.err") bytes on stderr"
if [ $rc -ne 0 ]; then
    fail "systemd-analyze verify exited $rc"
fi
if [ -s "$work/verify.err" ]; then
    fail "systemd-analyze verify wrote to stderr:"
    sed 's/^/    /' "$work/verify.err"
fi
[ -s "$work/verify.out" ] && sed 's/^/    verify stdout: /' "$work/verify.out"

# --- systemd-analyze security ------------------------------------------------
# UTF-8 so that the verdict marks are the stable ✓/✗ glyphs.
(cd "$work" && LC_ALL=C.UTF-8 systemd-analyze security --offline=yes --no-pager "$unit") \
    >"$work/security.out" 2>"$work/security.err"
rc=$?
if [ $rc -ne 0 ]; then
    fail "systemd-analyze security exited $rc"
    sed 's/^/    /' "$work/security.err"
fi
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' "$work/security.out")
if [ -z "$exposure" ]; then
    fail "no overall exposure level in systemd-analyze security output"
    sed 's/^/    /' "$work/security.out"
else
    echo "measured: systemd-analyze security --offline=yes -> exposure $exposure (limit $max_exposure)"
    echo "  what still counts against it:"
    grep -E '^✗' "$work/security.out" | sed -E 's/ {2,}/  /g; s/^/    /'
    if ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
        fail "exposure $exposure is above $max_exposure"
    fi
fi

if [ $failures -ne 0 ]; then
    echo "FAIL: $failures check(s) failed"
    exit 1
fi
echo "PASS: shmrefclock.service verifies cleanly, exposure $exposure <= $max_exposure"
exit 0
