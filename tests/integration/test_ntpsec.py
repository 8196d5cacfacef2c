#!/usr/bin/python3
"""NTPsec's ntpd takes shmrefclock's samples through `refclock shm unit 2`.

The daemon runs the "off-by-one" system source: reference time =
CLOCK_REALTIME + OFFSET (OFFSET = -1.0 s), receive time = CLOCK_REALTIME.

Expected peerstats offset, and its sign: NTP's offset (RFC 5905 theta) is
the reference's time minus the local clock's, so a local clock that is ahead
shows a negative offset. NTPsec's SHM driver computes exactly that per
sample: refclock_shm.c calls refclock_process_offset(pp, tsref, tsrcv,
fudgetime1) with tsref = clockTimeStamp and tsrcv = receiveTimeStamp, and
refclock_process_offset() takes tsref - tsrcv (+ time1, 0 here); the clock
filter passes it on to peerstats column 5 unchanged. Here tsref - tsrcv =
OFFSET, so every line must say -1.000 s: the system clock is 1 s fast.

ntpd never adjusts the clock here: `disable ntp` (no discipline), `disable
kernel` (no kernel PLL), -x, and the harness drops CAP_SYS_TIME. (NTPsec
1.2.2 still calls ntp_adjtime(2) at start-up; it fails with EPERM and ntpd
logs and ignores that.)

ntpd starts first, as at boot, and creates the segment; the daemon attaches
to it. `mode 1` (SHM_MODE_PRIVATE) is what makes NTPsec create it 0600:
without it NTPsec 1.2.2 creates units >= 2 with mode 0666 (world-writable),
which shmrefclock must refuse.

The NTPsec tree comes from fetch-ntpsec.sh; $NTPSEC_ROOT points at it.
"""

import os
import pathlib

import harness
from harness import Skip, check, log

UNIT = 2
OFFSET = -1.0          # configured: reference = system clock + OFFSET
TOLERANCE = 0.001      # 1 ms
MIN_LINES = 4
SELECTIONS = ["reject", "falsetick", "excess", "outlier", "candidate",
              "backup", "sys.peer", "pps.peer"]


def ntpd_binary():
    root = os.environ.get("NTPSEC_ROOT")
    if not root:
        raise Skip("NTPSEC_ROOT is unset (run tests/integration/"
                   "fetch-ntpsec.sh DESTDIR and set NTPSEC_ROOT=DESTDIR)")
    ntpd = pathlib.Path(root) / "usr" / "sbin" / "ntpd"
    if not (ntpd.is_file() and os.access(ntpd, os.X_OK)):
        raise Skip(f"{ntpd} does not exist (NTPSEC_ROOT={root}; run "
                   "fetch-ntpsec.sh)")
    return ntpd


def peerstats_lines(path):
    """(status word, offset) of each SHM unit-2 line of peerstats:
    MJD seconds peer status offset delay dispersion jitter."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[2] in (f"SHM({UNIT})",
                                          f"127.127.28.{UNIT}"):
            lines.append((int(cols[3], 16), float(cols[4]), line))
    return lines


def start_ntpd(ctx, unit=UNIT):
    """NTPsec's ntpd with only `refclock shm unit UNIT`, never touching the
    clock, writing peerstats; (its Proc, the peerstats path) once it has
    created the segment. Shared with tests/library/test_python_ntpsec.py."""
    ntpd = ntpd_binary()
    stats = ctx.path("stats")
    stats.mkdir()
    conf = ctx.write("ntp.conf", f"""\
# Only the SHM refclock, polled as often as NTPsec allows (it runs the clock
# filter every 2 s with these settings).
# mode 1: create the segment 0600, not 0666.
refclock shm unit {unit} mode 1 minpoll 0 maxpoll 0 refid SHM2
# Never discipline the clock: no clock discipline, no kernel PLL.
disable ntp
disable kernel
driftfile {ctx.path("ntp.drift")}
logfile {ctx.path("ntpd.log")}
statsdir {stats}/
statistics peerstats
filegen peerstats file peerstats type none enable
""")
    ntpd_proc = ctx.start("ntpd", [ntpd, "-n", "-x", "-c", conf])
    info = harness.wait_for_segment(unit, 10, watch=[ntpd_proc])
    log(f"segment created by ntpd: {info}")
    check(info.mode == 0o600 and info.uid == 0,
          f"ntpd created the segment {info.mode:04o} owned by {info.uid}, "
          "expected 0600 root with `mode 1`")
    return ntpd_proc, stats / "peerstats"


def body(ctx):
    ntpd_binary()
    harness.daemon_binary()
    ntpd_proc, peerstats = start_ntpd(ctx)

    daemon, _ = ctx.start_daemon(ctx.daemon_config(unit=UNIT, offset=OFFSET),
                                 UNIT)
    lines = harness.wait_until(
        lambda: (lambda found: found if len(found) >= MIN_LINES else None)(
            peerstats_lines(peerstats)),
        45, f"{MIN_LINES} SHM({UNIT}) lines in peerstats", interval=0.5,
        watch=[ntpd_proc, daemon])
    log(f"segment with ntpd attached: {harness.segment_info(UNIT)}")
    ntpd_proc.stop()

    failures = []
    bad = []
    for status, offset, line in lines:
        selection = SELECTIONS[(status >> 8) & 7]
        log(f"peerstats: {line}   -> offset {offset:+.9f} s "
            f"(expected {OFFSET:+.9f}, error {(offset - OFFSET) * 1e6:+.1f} "
            f"us), {selection}")
        if abs(offset - OFFSET) > TOLERANCE:
            bad.append(offset)
    if bad:
        failures.append(f"{len(bad)} of {len(lines)} peerstats offsets off "
                        f"by more than {TOLERANCE} s from {OFFSET:+.9f}: "
                        f"{bad[:5]}")
    last_status = lines[-1][0]
    if not (last_status >> 12) & 1:
        failures.append(f"status {last_status:04x}: SHM({UNIT}) not reachable")
    if SELECTIONS[(last_status >> 8) & 7] != "sys.peer":
        failures.append(f"status {last_status:04x}: SHM({UNIT}) is not the "
                        "system peer")
    check(not failures, "; ".join(failures))


if __name__ == "__main__":
    harness.main("ntpsec", body, timeout=80)
