#!/usr/bin/python3
"""python-ntpdshm's documented examples, run against shmrefclock's NtpdShm
with `import shmrefclock as ntpdshm`, feed chronyd (`refclock SHM 2`).

The examples are python-ntpdshm 0.2.1's README, unchanged but for that
import, print() for Python 3, and the README's typo `recev_time` (its next
lines use `recv_time`). All of them publish the system time minus one second:

1. the "off by one second" program: chrony must select SHM2 and report the
   system clock 1.000 s fast (`tracking` "System time"): at most 1 ms
   less, at most LATE (below) more;
2. the field-access example (every field printed, then `valid = 0`, the
   float properties, precision, `count += 1`, `valid = 1`);
3. update(clock_time, recv_time=recv_time, precision=-5);
4. update(clock_time), the receive time defaulting to now.

For 2-4 every sample chrony took in that example's time window (its
refclocks.log "Raw offset", reference - receive) must be -1.000 s: at most
1 ms above, at most LATE below (the time between the example's clock and
receive times), at least two per example. An independent ctypes reader (harness.py)
checks that the segment was always written with mode 1.
"""

import datetime
import os
import time

import libtest
from libtest import harness
from harness import Fail, check, log

import chrony

UNIT = 2
OFFSET = -1.0
# Every example takes its receive time after its clock time (two calls of
# time.time(), or update()'s own "now"), so reference - receive is -1.000 s
# less the time between them: never above -1.000 s by more than rounding
# (TOLERANCE), below it by however long the example was held up between
# the two calls (1.2 ms seen in the sanitizer build with the machine busy).
# LATE, generous, is a bound, not a timing claim: what the test tells apart
# is a right receive time from a wrong one (none: the clock time itself,
# off by 1 s; a stale one, by a second or more).
TOLERANCE = 0.001
LATE = 0.2
ROUNDS = 4

IMPORT = "import time\nimport shmrefclock as ntpdshm\n"

OFF_BY_ONE = IMPORT + """
def get_clock_time():
    return time.time() - 1.0     # always be exactly one second behind.

def main():
    ntpd_shm = ntpdshm.NtpdShm(unit=2)
    ntpd_shm.mode = 0            # set mode
    ntpd_shm.precision = -6      # set precision once
    ntpd_shm.leap = 0            # how would we know about leap seconds?

    while True:
        clock_time = get_clock_time()
        ntpd_shm.update(clock_time)
        time.sleep(1.0)

if __name__ == '__main__':
    main()
"""

FIELDS = IMPORT + f"""
ntpd_shm = ntpdshm.NtpdShm(unit=0)
print(ntpd_shm.mode)
print(ntpd_shm.clockTimeStampSec)
print(ntpd_shm.clockTimeStampUSec)
print(ntpd_shm.clockTimeStampNSec)
print(ntpd_shm.receiveTimeStampSec)
print(ntpd_shm.receiveTimeStampUSec)
print(ntpd_shm.receiveTimeStampNSec)
print(ntpd_shm.leap)
print(ntpd_shm.precision)
print(ntpd_shm.valid)
print(ntpd_shm.clockTimeStamp)
print(ntpd_shm.receiveTimeStamp)

ntpd_shm = ntpdshm.NtpdShm(unit=2)
def get_clock_time():
    return time.time() - 1.0

for _ in range({ROUNDS}):
    clock_time = get_clock_time()
    recv_time = time.time()
    ntpd_shm.valid = 0                     # don't use Python boolean
    ntpd_shm.clockTimeStamp = clock_time
    ntpd_shm.receiveTimeStamp = recv_time
    ntpd_shm.precision = -5                # 2^-5 = 0.03125 seconds in this case
    ntpd_shm.count += 1
    ntpd_shm.valid = 1
    time.sleep(1.0)
"""

UPDATE_RECV = IMPORT + f"""
ntpd_shm = ntpdshm.NtpdShm(unit=2)
for _ in range({ROUNDS}):
    clock_time = time.time() - 1.0
    recv_time = time.time()
    ntpd_shm.update(clock_time, recv_time=recv_time, precision=-5)
    time.sleep(1.0)
"""

UPDATE = IMPORT + f"""
ntpd_shm = ntpdshm.NtpdShm(unit=2)
for _ in range({ROUNDS}):
    clock_time = time.time() - 1.0
    ntpd_shm.update(clock_time)
    time.sleep(1.0)
"""


def raw_samples(path, refid):
    """(epoch seconds, raw offset) of each refclocks.log sample of refid."""
    samples = []
    if not path.exists():
        return samples
    for line in path.read_text().splitlines():
        cols = line.split()
        if len(cols) == 9 and cols[2] == refid and cols[3] != "-":
            when = datetime.datetime.strptime(
                f"{cols[0]} {cols[1]}", "%Y-%m-%d %H:%M:%S.%f").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
            samples.append((when, float(cols[6])))
    return samples


def body(ctx):
    libtest.import_module()
    env = libtest.module_env()
    chronyd = chrony.Chronyd(ctx, [f"refclock SHM {UNIT} {chrony.FAST} refid SHM2"])
    chronyd_proc = chronyd.start()
    harness.wait_for_segment(UNIT, 10, watch=[chronyd_proc])

    # 1. The off-by-one program, until chrony has selected it.
    script = ctx.write("off_by_one_ntpdshm.py", OFF_BY_ONE)
    started = time.monotonic()
    program = ctx.start("off_by_one_ntpdshm", [os.sys.executable, script], env=env)
    chronyd.wait_selected("SHM2", 30, watch=[chronyd_proc, program])
    log(f"chrony selected SHM2 {time.monotonic() - started:.1f} s after the "
        "off-by-one program started")
    time.sleep(3)
    tracking = chronyd.tracking()
    with harness.ShmReader(UNIT) as reader:
        sample = reader.read()
    log(f"segment: {sample}")
    check(sample.mode == 1, f"the program's `mode = 0` reached the segment: {sample}")
    fast = chrony.system_time_fast(tracking["System time"])
    log(f"off-by-one program: 'System time' {tracking['System time']!r} = "
        f"{fast:+.9f} s, expected {-OFFSET:+.9f} (error "
        f"{(fast + OFFSET) * 1e6:+.1f} us)")
    failures = []
    if not -OFFSET - TOLERANCE <= fast <= -OFFSET + LATE:
        failures.append(f"off-by-one program: System time {fast:+.9f}, "
                        f"expected {-OFFSET:+.9f} fast, {-TOLERANCE:+} to "
                        f"{LATE:+}")
    program.stop()

    # 2-4, one after the other, each in its own time window.
    windows = []
    for name, text in [("fields", FIELDS), ("update_recv_time", UPDATE_RECV),
                       ("update", UPDATE)]:
        script = ctx.write(f"{name}.py", text)
        begin = time.time()
        done = ctx.run(name, [os.sys.executable, script], timeout=ROUNDS + 20,
                       env=env)
        end = time.time()
        check(done.returncode == 0, f"example {name} failed: {done.stderr.strip()}")
        with harness.ShmReader(UNIT) as reader:
            sample = reader.read()
        log(f"{name}: ran {end - begin:.1f} s; segment after: {sample}")
        if sample.mode != 1:
            failures.append(f"{name}: segment mode {sample.mode}")
        windows.append((name, begin, end))
    time.sleep(1.5)  # chrony's last poll of the last example
    chronyd_proc.stop()

    samples = raw_samples(ctx.path("refclocks.log"), "SHM2")
    for name, begin, end in windows:
        # refclocks.log dates a sample by its receive time: when the
        # example wrote it, inside the example's run.
        mine = [off for when, off in samples if begin <= when <= end]
        log(f"{name}: {len(mine)} samples taken by chrony, raw offsets "
            f"{[f'{x:+.6f}' for x in mine]}, expected {OFFSET:+.6f}")
        if len(mine) < 2:
            failures.append(f"{name}: only {len(mine)} samples taken by chrony")
        bad = [x for x in mine if not OFFSET - LATE <= x <= OFFSET + TOLERANCE]
        if bad:
            failures.append(f"{name}: offsets {bad} not {OFFSET}, {-LATE:+} "
                            f"to {TOLERANCE:+}")
    if failures:
        raise Fail("; ".join(failures))


if __name__ == "__main__":
    harness.main("python_chrony", body, timeout=100)
