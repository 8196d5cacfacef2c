#!/bin/bash
# The real readers on armhf: in an armhf Debian root (mmdebstrap, run through
# binfmt_misc and qemu-user-static), the cross-built armhf daemon writes the
# off-by-one configuration (a `system` refclock, offset -1.0, unit 2) and the
# armhf chronyd (refclock SHM 2, -x) and gpsd's armhf ntpshmmon read it.
#
# Usage: tests/system/armhf-readers.sh SUITE DAEMON RESULTS
#   SUITE    bookworm: Debian 12 armhf, whose chrony and gpsd use a 32-bit
#            time_t (80-byte segment): DAEMON from cross/arm-linux-gnueabihf.ini
#            trixie: Debian 13 armhf, 64-bit time_t (96 bytes): DAEMON built
#            with -Dtime64=true
#   DAEMON   the cross-built armhf shmrefclock binary
#   RESULTS  file to append "OK step" / "FAIL step" lines to
#
# Roots are cached as tarballs in $SHMREFCLOCK_ROOT_CACHE (default
# /var/cache/shmrefclock-tests). Runs in its own IPC, mount and PID
# namespaces without CAP_SYS_TIME, and chronyd with -x: no clock is touched.
# A missing prerequisite (binfmt_misc, qemu-arm, mmdebstrap) fails the run.
set -uo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 SUITE DAEMON RESULTS" >&2
    exit 2
fi
suite=$1
daemon=$(readlink -f "$2")
results=$3
cache=${SHMREFCLOCK_ROOT_CACHE:-/var/cache/shmrefclock-tests}
mirror=${SHMREFCLOCK_MIRROR:-http://deb.debian.org/debian}

failures=0
record() {
    local status=$1
    shift
    echo "$status armhf-$suite: $*" >> "$results"
    echo "$status: $*"
    [ "$status" = OK ] || failures=$((failures + 1))
}
die() {
    record FAIL "$*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "prerequisite: must run as root"
for tool in mmdebstrap setpriv unshare; do
    command -v "$tool" >/dev/null || die "prerequisite: $tool not found (tests/system/install-deps.sh)"
done
[ -x "$daemon" ] || die "prerequisite: armhf daemon $2 not built (tests/cross/run.sh)"
file -L "$daemon" 2>/dev/null | grep -q 'ARM, EABI5' || die "prerequisite: $daemon is not an armhf binary"

# binfmt_misc runs armhf programs through qemu-arm-static (F flag: the
# interpreter is opened at registration, so it works inside the chroot).
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "prerequisite: cannot mount binfmt_misc"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-arm ]; then
    update-binfmts --enable qemu-arm >/dev/null 2>&1 || true
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-arm 2>/dev/null ||
    die "prerequisite: binfmt_misc has no enabled qemu-arm entry (qemu-user-static, binfmt-support)"

# ntpshmmon is in the gpsd package (gpsd-tools lists it, but ships it no more).
packages=chrony,gpsd,gpsd-tools
key=$(printf '%s\n' "$suite" armhf "$packages" "$mirror" minbase v1 | sha256sum | cut -c1-16)
tarball=$cache/armhf-$suite-$key.tar
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
    echo "=== mmdebstrap --architectures=armhf $suite ($packages) -> $tarball"
    start=$(date +%s)
    if ! mmdebstrap --architectures=armhf --variant=minbase --format=tar --include="$packages" \
        "$suite" "$tarball.tmp" "$mirror" > "$cache/armhf-$suite-$key.log" 2>&1; then
        tail -n 30 "$cache/armhf-$suite-$key.log"
        rm -f "$tarball.tmp"
        die "mmdebstrap armhf $suite"
    fi
    mv "$tarball.tmp" "$tarball"
    echo "mmdebstrap armhf $suite: $(($(date +%s) - start)) s"
fi

work=$(mktemp -d /var/tmp/shmrefclock-armhf.XXXXXX) || die "mktemp"
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
tar -xf "$tarball" -C "$root" || die "unpack $tarball"
install -m 0755 "$daemon" "$root/usr/local/bin/shmrefclock"
cat > "$root/root/off-by-one.conf" <<'EOF'
[[refclock]]
name = "off-by-one"
source = "system"
unit = 2
offset = -1.0
interval = 1.0
EOF
cat > "$root/root/chrony.conf" <<'EOF'
refclock SHM 2 refid SYS poll 0 dpoll 0 filter 1
port 0
cmdport 0
EOF
# Inside the root: the daemon writes, chronyd and ntpshmmon read. Prints
# "CHRONY <state> <last offset>" and ntpshmmon's sample lines.
cat > "$root/root/readers.sh" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
/usr/local/bin/shmrefclock -c /root/off-by-one.conf > /root/daemon.log 2>&1 &
sleep 3
echo "SEGSZ $(awk 'NR > 1 && $1 == 1314148402 { print $4 }' /proc/sysvipc/shm)"
chronyd -x -d -u _chrony -f /root/chrony.conf > /root/chronyd.log 2>&1 &
# With -x chronyd leaves the clock alone, so tracking keeps reporting the
# whole measured offset ("System time: 1.000000000 seconds fast of NTP
# time"); 53595300 is the reference ID "SYS".
got=
for i in $(seq 1 60); do
    got=$(chronyc -n tracking 2>/dev/null | awk -F': ' '
        /^Reference ID/ { split($2, r, " "); refid = r[1] }
        /^System time/ { split($2, t, " "); fast = (t[3] == "fast") ? t[1] : -t[1] }
        END { print refid, fast }')
    case $got in 53595300*) sleep 3; break ;; esac
    sleep 1
done
got=$(chronyc -n tracking 2>/dev/null | awk -F': ' '
    /^Reference ID/ { split($2, r, " "); refid = r[1] }
    /^System time/ { split($2, t, " "); fast = (t[3] == "fast") ? t[1] : -t[1] }
    END { print refid, fast }')
echo "CHRONY $got"
ntpshmmon -n 3 -t 15
echo "--- chronyd.log"; cat /root/chronyd.log
echo "--- daemon.log"; tail -n 5 /root/daemon.log
kill %1 2>/dev/null
EOF
chmod +x "$root/root/readers.sh"

echo "=== armhf $suite: daemon, chronyd -x, ntpshmmon under qemu-arm"
start=$(date +%s)
output=$(setpriv --bounding-set=-sys_time --inh-caps=-sys_time \
    unshare --ipc --mount --pid --fork chroot "$root" /root/readers.sh 2>&1)
echo "$output"
echo "(took $(($(date +%s) - start)) s)"

segsz=$(echo "$output" | awk '$1 == "SEGSZ" { print $2 }')
expected=80
[ "$suite" = bookworm ] || expected=96
if [ "$segsz" = "$expected" ]; then
    record OK "the armhf daemon made a ${segsz}-byte segment (expected $expected)"
else
    record FAIL "segment size '${segsz}', expected $expected"
fi

chrony=$(echo "$output" | awk '$1 == "CHRONY" { print $2, $3 }')
offset=${chrony#* }
if [ "${chrony%% *}" = 53595300 ] && awk -v o="$offset" 'BEGIN { d = o - 1.0; exit !(d < 0.001 && d > -0.001) }'; then
    record OK "armhf chronyd selected SHM 2 and reports $offset s (1.000 within 1 ms)"
    echo "MEASURED armhf-$suite chrony offset $offset s (expected 1.000)" >> "$(dirname "$results")/measured.txt"
else
    record FAIL "armhf chronyd: '$chrony' (want reference 53595300 (SYS) and 1.000 s within 1 ms)"
fi

# ntpshmmon: "sample NTP2 <Seen@> <Clock=receive> <Real=reference> <L> <Prc>";
# Real - Clock must be -1.000 s within 1 ms.
diffs=$(echo "$output" | awk '$1 == "sample" && $2 == "NTP2" {
    split($4, c, "."); split($5, r, ".");
    printf "%.6f\n", (r[1] - c[1]) + (r[2] - c[2]) / 1e9 }')
count=$(echo "$diffs" | grep -c . )
bad=$(echo "$diffs" | awk 'NF && ($1 + 1.0 > 0.001 || $1 + 1.0 < -0.001)' | wc -l)
if [ "$count" -ge 3 ] && [ "$bad" -eq 0 ]; then
    record OK "armhf ntpshmmon read $count samples, reference - receive = $(echo "$diffs" | head -n 1) s"
else
    record FAIL "armhf ntpshmmon: $count samples, $bad not at -1.000 s ($diffs)"
fi
[ "$failures" -eq 0 ]
