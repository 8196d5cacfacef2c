#!/usr/bin/python3
"""examples/off_by_one.py feeds NTPsec's ntpd (`refclock shm unit 2`):
every peerstats offset must be -1.000 s within 1 ms (the reference 1 s
behind the system clock; the sign is worked out in test_ntpsec.py's
docstring), with SHM(2) reachable and the system peer.

Like test_ntpsec.py, which does the same for the daemon: ntpd starts first
and creates the segment 0600 (`mode 1`); the example attaches to it with
the ownership checks. NTPsec comes from fetch-ntpsec.sh ($NTPSEC_ROOT); its
absence is a failure here (tests/run.sh always fetches it).
"""

import os

import libtest
from libtest import harness
from harness import Fail, check, log

import test_ntpsec

UNIT = test_ntpsec.UNIT
OFFSET = -1.0
TOLERANCE = 0.001
MIN_LINES = 4


def body(ctx):
    libtest.import_module()
    env = libtest.module_env()
    try:
        ntpd = test_ntpsec.ntpd_binary()
    except harness.Skip as why:
        raise Fail(f"NTPsec is needed: {why}") from None
    example = libtest.SRCDIR / "examples" / "off_by_one.py"

    stats = ctx.path("stats")
    stats.mkdir()
    conf = ctx.write("ntp.conf", f"""\
refclock shm unit {UNIT} mode 1 minpoll 0 maxpoll 0 refid SHM2
disable ntp
disable kernel
driftfile {ctx.path("ntp.drift")}
logfile {ctx.path("ntpd.log")}
statsdir {stats}/
statistics peerstats
filegen peerstats file peerstats type none enable
""")
    ntpd_proc = ctx.start("ntpd", [ntpd, "-n", "-x", "-c", conf])
    info = harness.wait_for_segment(UNIT, 10, watch=[ntpd_proc])
    log(f"segment created by ntpd: {info}")
    program = ctx.start("off_by_one.py", [os.sys.executable, example], env=env)
    peerstats = stats / "peerstats"
    lines = harness.wait_until(
        lambda: (lambda found: found if len(found) >= MIN_LINES else None)(
            test_ntpsec.peerstats_lines(peerstats)),
        45, f"{MIN_LINES} SHM({UNIT}) lines in peerstats", interval=0.5,
        watch=[ntpd_proc, program])
    ntpd_proc.stop()
    program.stop()
    check(program.returncode == 0,
          f"off_by_one.py exited {program.returncode} on SIGTERM")
    with harness.ShmReader(UNIT) as reader:
        after = reader.read()
    log(f"segment after off_by_one.py exited: {after}")

    failures = []
    for status, offset, line in lines:
        log(f"peerstats: {line} -> offset {offset:+.9f} s (expected "
            f"{OFFSET:+.9f}, error {(offset - OFFSET) * 1e6:+.1f} us)")
        if abs(offset - OFFSET) > TOLERANCE:
            failures.append(f"offset {offset:+.9f}")
    last = lines[-1][0]
    if not (last >> 12) & 1:
        failures.append(f"status {last:04x}: SHM({UNIT}) not reachable")
    if test_ntpsec.SELECTIONS[(last >> 8) & 7] != "sys.peer":
        failures.append(f"status {last:04x}: SHM({UNIT}) is not the system peer")
    if after.valid != 0:
        failures.append("off_by_one.py left `valid` set on SIGTERM")
    check(not failures, "; ".join(failures))


if __name__ == "__main__":
    harness.main("python_ntpsec", body, timeout=80)
