#!/bin/bash
# System test: the Debian package in a container booted with systemd as PID 1.
#
# Usage: tests/system/systemd-container.sh SUITE DEB RESULTS
#   SUITE    bookworm (Debian 12) or trixie (Debian 13)
#   DEB      the shmrefclock_*.deb to install (tests/package/build-deb.sh)
#   RESULTS  file to append one "OK step" / "FAIL step" line per step to
#            (tests/run.sh counts them)
#
# A minbase root with systemd, dbus and chrony is made with mmdebstrap once
# and cached as a tarball in $SHMREFCLOCK_ROOT_CACHE (default
# /var/cache/shmrefclock-tests), keyed by a hash of the suite and package
# list; each run unpacks a fresh copy, boots it with systemd-nspawn -b (its
# own IPC namespace, no CAP_SYS_TIME) and drives it with systemctl through
# nsenter. chronyd runs with -x: it never sets a clock. A missing
# prerequisite (mmdebstrap, systemd-nspawn, root) fails the run: nothing is
# skipped.
set -uo pipefail

# tests/system/systemd-container.sh --root-only SUITE only makes (or finds)
# the cached root: tests/run.sh does that at the start, while it builds.
root_only=no
if [ "${1:-}" = --root-only ] && [ $# -eq 2 ]; then
    root_only=yes
    set -- "$2" /dev/null /dev/stdout
fi
if [ $# -ne 3 ]; then
    echo "usage: $0 SUITE DEB RESULTS | --root-only SUITE" >&2
    exit 2
fi
suite=$1
deb=$(readlink -f "$2")
results=$3
here=$(cd "$(dirname "$0")" && pwd)
cache=${SHMREFCLOCK_ROOT_CACHE:-/var/cache/shmrefclock-tests}
mirror=${SHMREFCLOCK_MIRROR:-http://deb.debian.org/debian}

failures=0
record() { # STATUS STEP...
    local status=$1
    shift
    echo "$status $suite: $*" >> "$results"
    echo "$status: $*"
    [ "$status" = OK ] || failures=$((failures + 1))
}
ok() { record OK "$@"; }
fail() { record FAIL "$@"; }
check() { # STEP COMMAND...: record whether COMMAND succeeds
    local step=$1
    shift
    if "$@"; then ok "$step"; else fail "$step"; fi
}
die() {
    fail "$*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "prerequisite: must run as root (mmdebstrap, systemd-nspawn)"
for tool in mmdebstrap systemd-nspawn nsenter python3; do
    command -v "$tool" >/dev/null || die "prerequisite: $tool not found (tests/system/install-deps.sh)"
done
[ "$root_only" = yes ] || [ -f "$deb" ] || die "prerequisite: package $2 not found"

# --- the root file system, cached ------------------------------------------
# The package's own library (libc; nettle is linked statically) is in every
# minbase root: the container has no network, so apt inside it installs only
# what the root already holds.
packages=systemd,systemd-sysv,dbus,chrony
key=$(printf '%s\n' "$suite" "$packages" "$mirror" minbase v1 | sha256sum | cut -c1-16)
tarball=$cache/$suite-$key.tar
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
    echo "=== mmdebstrap $suite ($packages) -> $tarball"
    start=$(date +%s)
    if ! mmdebstrap --variant=minbase --format=tar --include="$packages" "$suite" "$tarball.tmp" "$mirror" \
        > "$cache/$suite-$key.log" 2>&1; then
        tail -n 30 "$cache/$suite-$key.log"
        rm -f "$tarball.tmp"
        die "mmdebstrap $suite"
    fi
    mv "$tarball.tmp" "$tarball"
    echo "mmdebstrap $suite: $(($(date +%s) - start)) s"
fi
if [ "$root_only" = yes ]; then
    echo "root of $suite: $tarball"
    exit 0
fi

work=$(mktemp -d /var/tmp/shmrefclock-system.XXXXXX) || die "mktemp"
root=$work/root
nspawn_pid=
receiver_pid=
cleanup() {
    if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null; wait "$receiver_pid" 2>/dev/null; fi
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM to systemd-nspawn asks the container's init to power off.
        kill -TERM "$nspawn_pid" 2>/dev/null
        for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$root"
tar -xf "$tarball" -C "$root" || die "unpack $tarball"
cp "$deb" "$root/root/" || die "copy the package into the root"
debname=$(basename "$deb")
# The packaged chronyd must not start at boot (it would try to discipline
# the clock; nspawn withholds CAP_SYS_TIME anyway): the test starts its own
# with -x.
ln -sf /dev/null "$root/etc/systemd/system/chrony.service"
echo "shmrefclock-test" > "$root/etc/hostname"

# --- boot ------------------------------------------------------------------
echo "=== boot $suite"
start=$(date +%s.%N)
systemd-nspawn --keep-unit --register=no --quiet -D "$root" -b > "$work/console.log" 2>&1 &
nspawn_pid=$!
pid1=
for _ in $(seq 1 100); do
    for child in $(pgrep -P "$nspawn_pid"); do
        if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then pid1=$child; fi
    done
    [ -n "$pid1" ] && break
    sleep 0.1
done
[ -n "$pid1" ] || { cat "$work/console.log"; die "container's systemd (PID 1) did not appear"; }
in_ct() { nsenter -t "$pid1" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# Until systemd's private socket exists, systemctl fails at once; then
# is-system-running says initializing or starting until boot is done.
state=
for _ in $(seq 1 120); do
    state=$(in_ct systemctl is-system-running 2>/dev/null)
    case $state in running | degraded) break ;; esac
    sleep 0.5
done
case $state in
    running | degraded) ok "boot with systemd as PID 1: $state in $(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)") s" ;;
    *) cat "$work/console.log"; die "boot: system state '$state'" ;;
esac

svc=shmrefclock.service
prop() { in_ct systemctl show -P "$1" "$svc"; }

# --- install ---------------------------------------------------------------
if in_ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/root/$debname" \
    > "$work/apt-install.log" 2>&1; then
    ok "apt install ./$debname"
else
    cat "$work/apt-install.log"
    die "apt install ./$debname"
fi
check "the unit is enabled by the package" [ "$(in_ct systemctl is-enabled $svc)" = enabled ]
check "the unit was started by the package" [ "$(in_ct systemctl is-active $svc)" = active ]
check "system user shmrefclock exists, in group dialout" \
    bash -c "in_ct() { nsenter -t $pid1 -a -- \"\$@\"; }; in_ct id -nG shmrefclock | grep -qw dialout"
check "the udev rule is installed" in_ct test -f /lib/udev/rules.d/60-shmrefclock.rules
check "/etc/shmrefclock.conf is a conffile" \
    bash -c "nsenter -t $pid1 -a -- dpkg-query -W -f='\${Conffiles}' shmrefclock | grep -q ' /etc/shmrefclock.conf '"
check "the man pages are installed" in_ct test -f /usr/share/man/man8/shmrefclock.8.gz

# --- configuration: the system clock on unit 2, an NMEA receiver on unit 3 --
python3 "$here/nmea_server.py" > "$work/receiver.out" 2> "$work/receiver.err" &
receiver_pid=$!
device=
for _ in $(seq 1 50); do
    device=$(head -n 1 "$work/receiver.out" 2>/dev/null)
    [ -n "$device" ] && break
    sleep 0.1
done
[ -n "$device" ] || { cat "$work/receiver.err"; die "fake NMEA receiver did not start"; }

write_config() { # OFFSET
    cat > "$root/etc/shmrefclock.conf" <<EOF
# Edited by the system test.
[daemon]
log-level = "info"

[[refclock]]
name = "clock"
source = "system"
unit = 2
offset = $1
interval = 1.0

[[refclock]]
name = "gps"
source = "nmea"
device = "$device"
unit = 3
min-fixes = 3
EOF
}
write_config -0.25
check "the test configuration passes --check-config" in_ct shmrefclock --check-config -c /etc/shmrefclock.conf

# --- start to READY --------------------------------------------------------
in_ct systemctl stop "$svc"
t0=$(date +%s.%N)
if in_ct systemctl start "$svc"; then
    t1=$(date +%s.%N)
    exec_us=$(prop ExecMainStartTimestampMonotonic)
    ready_us=$(prop ActiveEnterTimestampMonotonic)
    ready_ms=$(((ready_us - exec_us) / 1000))
    start_ms=$(printf '%.0f' "$(echo "($t1 - $t0) * 1000" | bc)")
    ok "systemctl start reached READY: exec to READY ${ready_ms} ms, systemctl start returned after ${start_ms} ms"
    echo "MEASURED $suite time-to-READY ${ready_ms} ms (systemctl start ${start_ms} ms)" >> "$work/measured"
else
    in_ct systemctl status "$svc" --no-pager
    fail "systemctl start"
fi
check "Type=notify service is active after start" [ "$(in_ct systemctl is-active $svc)" = active ]
sleep 2
status_text=$(prop StatusText)
echo "STATUS=$status_text"
check "STATUS= is set (systemctl show StatusText)" [ -n "$status_text" ]
check "STATUS= appears in systemctl status" \
    bash -c "nsenter -t $pid1 -a -- systemctl status $svc --no-pager | grep -q 'Status: \"'"

check_exposure() { # WHAT: systemd-analyze security's overall exposure, at most 2.0
    local exposure
    exposure=$(in_ct systemd-analyze security "$svc" --no-pager 2>/dev/null |
        sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
    echo "MEASURED $suite systemd-analyze security exposure$1 $exposure" >> "$work/measured"
    if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
        ok "systemd-analyze security$1: exposure $exposure (<= 2.0)"
    else
        fail "systemd-analyze security$1: exposure '$exposure' (must be <= 2.0)"
    fi
}
check_exposure ""

# --- chronyd -x reads unit 2 ------------------------------------------------
cat > "$root/root/chrony-test.conf" <<'EOF'
# Never touches the clock: chronyd runs with -x (and nspawn withholds
# CAP_SYS_TIME). Polls the segment every second.
refclock SHM 2 refid SYS poll 0 dpoll 0 filter 1
port 0
cmdport 0
pidfile /run/chrony-test.pid
EOF
in_ct systemd-run --quiet --unit=test-chronyd chronyd -x -d -u _chrony -f /root/chrony-test.conf
# With -x chronyd leaves the clock alone, so `chronyc tracking` keeps
# reporting the whole offset it measured: "System time: 0.250000000 seconds
# fast of NTP time" (as tests/integration/chrony.py reads it).
chrony_state() { # prints "REFID FAST-SECONDS"
    in_ct chronyc -n tracking 2>/dev/null | awk -F': ' '
        /^Reference ID/ { split($2, r, " "); refid = r[1] }
        /^System time/ { split($2, t, " "); fast = (t[3] == "fast") ? t[1] : -t[1] }
        END { print refid, fast }'
}
wait_offset() { # EXPECTED TOLERANCE SECONDS: wait until SYS is selected at that offset
    local got
    for _ in $(seq 1 "$3"); do
        got=$(chrony_state)
        # 53595300 is "SYS" as chrony's reference ID.
        if [ "${got%% *}" = 53595300 ] &&
            awk -v o="${got#* }" -v e="$1" -v t="$2" 'BEGIN { d = o - e; exit !(d < t && d > -t) }'; then
            echo "$got"
            return 0
        fi
        sleep 1
    done
    echo "${got:-no answer from chronyc}"
    return 1
}
# offset = reference - receive = -0.25 s: chrony sees the local clock 0.25 s ahead.
if got=$(wait_offset 0.25 0.001 30); then
    ok "chronyd -x selected SHM 2: local clock ${got#* } s fast of it (configured offset -0.25)"
    echo "MEASURED $suite chrony offset before reload ${got#* } s (expected 0.250)" >> "$work/measured"
else
    fail "chronyd -x did not select SHM 2 at 0.25 s within 30 s: $got"
fi

# --- reload ------------------------------------------------------------------
pid_before=$(prop MainPID)
write_config -0.5
if in_ct systemctl reload "$svc"; then ok "systemctl reload"; else fail "systemctl reload"; fi
check "reload kept the same process" [ "$(prop MainPID)" = "$pid_before" ]
if got=$(wait_offset 0.5 0.001 20); then
    ok "after reload chronyd reports ${got#* } s (configured -0.5)"
    echo "MEASURED $suite chrony offset after reload ${got#* } s (expected 0.500)" >> "$work/measured"
else
    fail "after reload chronyd did not report 0.5 s within 20 s: $got"
fi

# --- NMEA over tcp://127.0.0.1 inside the sandbox ----------------------------
nmea_ok=no
for _ in $(seq 1 20); do
    if in_ct shmrefclock status -c /etc/shmrefclock.conf --json 2>/dev/null |
        python3 -c '
import json, sys
doc = json.load(sys.stdin)
units = [r for r in doc.get("refclocks", []) if r.get("unit") == 3]
sys.exit(0 if units and (units[0].get("sample") or {}).get("valid") == 1 else 1)' 2>/dev/null; then
        nmea_ok=yes
        break
    fi
    sleep 1
done
check "NMEA receiver on $device: unit 3 valid" [ "$nmea_ok" = yes ]

# --- the control socket in RuntimeDirectory= ---------------------------------
# status asks the daemon at /run/shmrefclock/control (systemd creates the
# directory, 0750 shmrefclock:shmrefclock; the sandbox leaves it writable).
live=$(in_ct shmrefclock status -c /etc/shmrefclock.conf --json 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print((doc.get("daemon") or {}).get("pid"), doc.get("daemon_problem"))' 2>&1)
check "status asks the daemon on its control socket (pid, problem: $live; MainPID $(prop MainPID))" \
    [ "${live%% *}" = "$(prop MainPID)" ]
rundir=$(in_ct stat -c '%a %U:%G' /run/shmrefclock 2>&1)
check "RuntimeDirectory /run/shmrefclock is 750 shmrefclock:shmrefclock ($rundir)" \
    [ "$rundir" = "750 shmrefclock:shmrefclock" ]

# --- stop clears valid -------------------------------------------------------
in_ct systemctl stop "$svc"
valid=$(in_ct shmrefclock status -c /etc/shmrefclock.conf --json 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(",".join(str((r.get("sample") or {}).get("valid")) for r in doc.get("refclocks", [])))')
check "systemctl stop cleared valid on units 2 and 3 (valid: $valid)" [ "$valid" = "0,0" ]

# --- Restart= after the daemon is killed --------------------------------------
in_ct systemctl reset-failed "$svc"
in_ct systemctl start "$svc"
restarts=$(prop NRestarts)
pid_before=$(prop MainPID)
in_ct systemctl kill -s KILL "$svc"
restarted=no
for _ in $(seq 1 30); do
    if [ "$(prop NRestarts)" -gt "$restarts" ] && [ "$(in_ct systemctl is-active $svc)" = active ]; then
        restarted=yes
        break
    fi
    sleep 1
done
check "Restart=on-failure after SIGKILL (pid $pid_before -> $(prop MainPID))" [ "$restarted" = yes ]

# --- the watchdog restarts a stopped daemon ---------------------------------
mkdir -p "$root/etc/systemd/system/$svc.d"
cat > "$root/etc/systemd/system/$svc.d/test-watchdog.conf" <<'EOF'
[Service]
WatchdogSec=2
RestartSec=1
EOF
in_ct systemctl daemon-reload
# The steps above started the unit more often than StartLimitBurst=5 allows
# in a minute; this restart is deliberate, so clear the start-rate counter.
in_ct systemctl reset-failed "$svc"
in_ct systemctl restart "$svc"
restarts=$(prop NRestarts)
pid_before=$(prop MainPID)
# (a minbase root has no kill(1): systemd sends the signal)
in_ct systemctl kill --kill-who=main -s SIGSTOP "$svc"
t0=$(date +%s)
watchdog=no
for _ in $(seq 1 30); do
    if [ "$(prop NRestarts)" -gt "$restarts" ] && [ "$(in_ct systemctl is-active $svc)" = active ]; then
        watchdog=yes
        break
    fi
    sleep 1
done
check "watchdog (WatchdogSec=2) restarted the SIGSTOPped daemon after $(($(date +%s) - t0)) s" [ "$watchdog" = yes ]
if [ "$watchdog" = yes ]; then
    in_ct journalctl -u "$svc" --no-pager 2>/dev/null | grep -i watchdog | tail -n 2
else
    echo "NRestarts $restarts -> $(prop NRestarts), state $(in_ct systemctl is-active $svc)"
    in_ct journalctl -u "$svc" --no-pager -n 40 2>/dev/null
fi
rm -rf "$root/etc/systemd/system/$svc.d"
in_ct systemctl daemon-reload

# --- [daemon] sched-priority and lock-memory, with and without the drop-in --
# The loop's policy and priority from chrt (util-linux), locked memory from
# /proc/PID/status (VmLck).
policy_of() { in_ct chrt -p "$1" 2>&1 | sed -n 's/.*policy: \(.*\)/\1/p;s/.*priority: \(.*\)/\1/p' | tr '\n' ' '; }
locked_kb() { in_ct sed -n 's/^VmLck:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
dropin=/usr/share/doc/shmrefclock/examples/realtime.conf
check "the real-time drop-in is installed ($dropin)" in_ct test -f "$dropin"
cp "$root/etc/shmrefclock.conf" "$work/shmrefclock.conf.saved"
sed -i 's/^log-level = "info"$/log-level = "info"\nsched-priority = 10\nlock-memory = true/' \
    "$root/etc/shmrefclock.conf"
check "sched-priority = 10 and lock-memory = true pass --check-config" \
    in_ct shmrefclock --check-config -c /etc/shmrefclock.conf
in_ct systemctl reset-failed "$svc"
in_ct systemctl restart "$svc"
main=$(prop MainPID)
got=$(policy_of "$main")
active=$(in_ct systemctl is-active "$svc")
check "without the drop-in the daemon runs on ($active) at the normal policy ($got)" \
    [ "$active/$got" = "active/SCHED_OTHER 0 " ]
check "without the drop-in one warning says why" \
    bash -c "nsenter -t $pid1 -a -- journalctl -u $svc _PID=$main --no-pager -o cat | grep -q 'sched-priority = 10: cannot run SCHED_FIFO'"
# The journal's stream protocol (src/io/log.cpp): the "<4>" prefix is the
# entry's PRIORITY, not text; -p warning..warning selects it, and an info
# line of the same start is not there.
check "the journal has that warning at priority 4 (warning), its text without a prefix" \
    bash -c "nsenter -t $pid1 -a -- journalctl -u $svc _PID=$main -p warning..warning --no-pager -o cat | grep -qx 'sched-priority = 10: cannot run SCHED_FIFO.*' && ! nsenter -t $pid1 -a -- journalctl -u $svc _PID=$main -p warning..warning --no-pager -o cat | grep -q 'refclock(s) from'"
mkdir -p "$root/etc/systemd/system/$svc.d"
in_ct cp "$dropin" "/etc/systemd/system/$svc.d/realtime.conf"
in_ct systemctl daemon-reload
in_ct systemctl reset-failed "$svc"
in_ct systemctl restart "$svc"
main=$(prop MainPID)
got=$(policy_of "$main")
# SCHED_RESET_ON_FORK: the threads the daemon starts run at the normal policy.
check "with the drop-in the event loop runs SCHED_FIFO at priority 10 ($got)" \
    [ "$got" = "SCHED_FIFO|SCHED_RESET_ON_FORK 10 " ]
# LimitMEMLOCK=infinity: where systemd can raise the limit (a machine's PID
# 1), the memory is locked; in a container whose own hard limit is finite
# (nspawn here: 8 MiB, and no CAP_SYS_RESOURCE to raise it) systemd clamps
# the unit's limit to it, and the daemon must refuse to lock, saying why
# (MCL_FUTURE under a finite limit would fail its later allocations).
check "the drop-in asks for LimitMEMLOCK=infinity ($(prop LimitMEMLOCK))" \
    [ "$(prop LimitMEMLOCK)" = infinity ]
memlock=$(in_ct sed -n 's/^Max locked memory *\([^ ]*\) .*/\1/p' "/proc/$main/limits")
lck=$(locked_kb "$main")
echo "MEASURED $suite locked memory with lock-memory = true: ${lck:-?} kB (RLIMIT_MEMLOCK $memlock)" >> "$work/measured"
if [ "$memlock" = unlimited ]; then
    check "with the drop-in the daemon's memory is locked (VmLck ${lck:-?} kB)" [ "${lck:-0}" -gt 0 ]
else
    check "under this container's finite RLIMIT_MEMLOCK ($memlock bytes) the daemon refuses to lock and says why (VmLck ${lck:-?} kB)" \
        bash -c "[ '${lck:-0}' -eq 0 ] && nsenter -t $pid1 -a -- journalctl -u $svc _PID=$main --no-pager -o cat | grep -q 'lock-memory = true: not locking: RLIMIT_MEMLOCK'"
fi
if [ "$got" != "SCHED_FIFO|SCHED_RESET_ON_FORK 10 " ]; then
    in_ct journalctl -u "$svc" _PID="$main" --no-pager -o cat | grep -E 'sched-priority|lock-memory'
fi
check_exposure " with realtime.conf"
rm -rf "$root/etc/systemd/system/$svc.d"
cp "$work/shmrefclock.conf.saved" "$root/etc/shmrefclock.conf"
in_ct systemctl daemon-reload
in_ct systemctl reset-failed "$svc"
in_ct systemctl restart "$svc"

# --- upgrade over itself keeps the edited conffile -------------------------
before=$(sha256sum < "$root/etc/shmrefclock.conf")
if in_ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "/root/$debname" \
    > "$work/apt-reinstall.log" 2>&1; then
    ok "apt install --reinstall over itself"
else
    cat "$work/apt-reinstall.log"
    fail "apt install --reinstall over itself"
fi
check "the edited /etc/shmrefclock.conf survived the upgrade" \
    [ "$(sha256sum < "$root/etc/shmrefclock.conf")" = "$before" ]
check "the service runs after the upgrade" [ "$(in_ct systemctl is-active $svc)" = active ]

# --- purge -------------------------------------------------------------------
if in_ct env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q shmrefclock \
    > "$work/apt-purge.log" 2>&1; then
    ok "apt purge shmrefclock"
else
    cat "$work/apt-purge.log"
    fail "apt purge shmrefclock"
fi
leftovers=$(cd "$root" && ls -d lib/systemd/system/shmrefclock.service usr/lib/systemd/system/shmrefclock.service \
    etc/systemd/system/multi-user.target.wants/shmrefclock.service lib/udev/rules.d/60-shmrefclock.rules \
    usr/lib/udev/rules.d/60-shmrefclock.rules usr/lib/sysusers.d/shmrefclock.conf etc/shmrefclock.conf \
    usr/bin/shmrefclock 2>/dev/null)
check "purge left no unit, rule, sysusers entry or configuration (${leftovers:-none})" [ -z "$leftovers" ]
check "purge left no shmrefclock user or group" \
    bash -c "! nsenter -t $pid1 -a -- getent passwd shmrefclock && ! nsenter -t $pid1 -a -- getent group shmrefclock"
check "systemd no longer knows the unit" \
    bash -c "[ \"\$(nsenter -t $pid1 -a -- systemctl show -P LoadState $svc)\" = not-found ]"

in_ct systemctl stop test-chronyd 2>/dev/null
echo "=== measured ($suite)"
cat "$work/measured" 2>/dev/null | tee -a "$(dirname "$results")/measured.txt"
echo "$suite: $failures failed step(s)"
[ "$failures" -eq 0 ]
