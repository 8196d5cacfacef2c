#!/usr/bin/python3
"""The off-by-one programs feed NTPsec's ntpd (`refclock shm unit 2`), one
after the other: examples/off_by_one.py, then python-ntpdshm's own program
(unchanged but for `import shmrefclock as ntpdshm`, test_python_chrony.py).
For each, every peerstats offset must be -1.000 s (the reference 1 s
behind the system clock; the sign is worked out in test_ntpsec.py's
docstring): at most 1 ms above, at most test_python_chrony.LATE below (a
program that takes its receive time after its clock time is held up
between the two under load: -1.00112 s seen in CI's sanitizer suite), with
SHM(2) reachable and the system peer at the last line.

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
import test_python_chrony

UNIT = test_ntpsec.UNIT
OFFSET = -1.0
TOLERANCE = 0.001
LATE = test_python_chrony.LATE
MIN_LINES = 4


def body(ctx):
    libtest.import_module()
    env = libtest.module_env()
    try:
        test_ntpsec.ntpd_binary()
    except harness.Skip as why:
        raise Fail(f"NTPsec is needed: {why}") from None
    example = libtest.SRCDIR / "examples" / "off_by_one.py"
    ntpd_proc, peerstats = test_ntpsec.start_ntpd(ctx, UNIT)
    ntpdshm_program = ctx.write("off_by_one_ntpdshm.py",
                                test_python_chrony.OFF_BY_ONE)
    failures = []
    for name, script in [("off_by_one.py", example),
                         ("off_by_one_ntpdshm.py", ntpdshm_program)]:
        already = len(test_ntpsec.peerstats_lines(peerstats))
        program = ctx.start(name, [os.sys.executable, script], env=env)
        # The first line after a program starts may still be the previous
        # program's last sample in NTPsec's filter: count from the next.
        lines = harness.wait_until(
            lambda: (lambda found: found[already + 1:]
                     if len(found) >= already + 1 + MIN_LINES else None)(
                test_ntpsec.peerstats_lines(peerstats)),
            45, f"{MIN_LINES} SHM({UNIT}) lines in peerstats from {name}",
            interval=0.5, watch=[ntpd_proc, program])
        program.stop()
        check(program.returncode in (0, -15),
              f"{name} exited {program.returncode} on SIGTERM")
        for status, offset, line in lines:
            log(f"{name}: peerstats: {line} -> offset {offset:+.9f} s "
                f"(expected {OFFSET:+.9f}, error "
                f"{(offset - OFFSET) * 1e6:+.1f} us)")
            if not OFFSET - LATE <= offset <= OFFSET + TOLERANCE:
                failures.append(f"{name}: offset {offset:+.9f}, not "
                                f"{OFFSET:+.3f} {-LATE:+} to {TOLERANCE:+}")
        last = lines[-1][0]
        if not (last >> 12) & 1:
            failures.append(f"{name}: status {last:04x}: SHM({UNIT}) not "
                            "reachable")
        if test_ntpsec.SELECTIONS[(last >> 8) & 7] != "sys.peer":
            failures.append(f"{name}: status {last:04x}: SHM({UNIT}) is not "
                            "the system peer")
        if name == "off_by_one.py":
            with harness.ShmReader(UNIT) as reader:
                after = reader.read()
            log(f"segment after off_by_one.py exited: {after}")
            if program.returncode != 0 or after.valid != 0:
                failures.append("off_by_one.py did not exit 0 with `valid` "
                                "cleared on SIGTERM")
    ntpd_proc.stop()
    check(not failures, "; ".join(failures))


if __name__ == "__main__":
    harness.main("python_ntpsec", body, timeout=110)
