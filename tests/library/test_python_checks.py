#!/usr/bin/python3
"""The module refuses the segments the daemon refuses, with its message.

For a segment owned by another user, one writable by others, and one
smaller than struct shmTime, each prepared with raw shmget/shmctl as an
attacker (or an old writer) would leave it: the daemon, started on that unit,
exits non-zero and logs why; shmrefclock.Writer and shmrefclock.NtpdShm
raise ShmError, an OSError, whose text is in the daemon's log word for word;
the segment is left as it was. A segment of our own (0600) is accepted, and
Reader.wait_next() waits for the next sample.
"""

import ctypes
import threading
import time

import libtest
from libtest import harness
from harness import check, log
import shm_segment  # noqa: E402

IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_SET = 1
NOBODY = 65534


def prepare(unit, size, mode, owner=None):
    """A segment as someone else might have made it; its shmid."""
    libc = shm_segment._libc
    shmid = libc.shmget(shm_segment.shm_key(unit), size, IPC_CREAT | IPC_EXCL | mode)
    check(shmid >= 0, f"shmget(unit {unit}): {shm_segment._errno_text()}")
    if owner is not None:
        ds = shm_segment._ShmidDs()
        check(libc.shmctl(shmid, shm_segment.IPC_STAT, ctypes.byref(ds)) == 0, "IPC_STAT")
        ds.shm_perm.uid = owner
        check(libc.shmctl(shmid, IPC_SET, ctypes.byref(ds)) == 0,
              f"IPC_SET: {shm_segment._errno_text()}")
    return shmid


def body(ctx):
    shmrefclock = libtest.import_module()
    daemon = harness.daemon_binary()
    check(issubclass(shmrefclock.ShmError, OSError), "ShmError is not an OSError")
    cases = [
        ("owned by another user", 11, 96, 0o600, NOBODY),
        ("world-writable", 12, 96, 0o666, None),
        ("smaller than struct shmTime", 13, 64, 0o600, None),
    ]
    for what, unit, size, mode, owner in cases:
        shmid = prepare(unit, size, mode, owner)
        before = harness.segment_info(unit)
        conf = ctx.daemon_config(unit=unit, name=f"unit{unit}")
        done = ctx.run(f"daemon-unit{unit}", [daemon, "-c", conf], timeout=10)
        daemon_says = done.stdout + done.stderr
        log(f"{what}: {before}\n  daemon exit {done.returncode}: "
            f"{daemon_says.strip()}")
        check(done.returncode != 0, f"{what}: the daemon accepted the segment")
        for name, make in [("Writer", lambda: shmrefclock.Writer(unit)),
                           ("NtpdShm", lambda: shmrefclock.NtpdShm(unit=unit))]:
            try:
                make()
            except shmrefclock.ShmError as err:
                log(f"  {name}: ShmError: {err}")
                check(str(err) and str(err) in daemon_says,
                      f"{what}: {name}'s message {str(err)!r} is not the "
                      f"daemon's: {daemon_says!r}")
            else:
                raise harness.Fail(f"{what}: {name}({unit}) accepted the segment")
        after = harness.segment_info(unit)
        check(after is not None and after.shmid == shmid and after == before,
              f"{what}: the segment changed: {before} -> {after}")

    # Our own segment, as the NTP daemon creates it: accepted.
    prepare(14, 96, 0o600)
    with shmrefclock.Writer(14) as writer:
        writer.write(1_700_000_000_123_456_789, 1_700_000_001_000_000_000)
    with shmrefclock.Reader(14) as reader:
        sample = reader.read()
    log(f"own segment: {sample}")
    check(sample.reference_ns == 1_700_000_000_123_456_789 and sample.valid == 0,
          f"unexpected {sample}: the write, then valid cleared by close()")

    # wait_next(): nothing new -> None after the timeout; a write from
    # another thread while it waits (GIL released) -> that sample.
    with shmrefclock.Writer(14) as writer, shmrefclock.Reader(14) as reader:
        started = time.monotonic()
        check(reader.wait_next(0.2) is None, "wait_next() invented a sample")
        waited = time.monotonic() - started
        check(waited >= 0.2, f"wait_next(0.2) returned after {waited:.3f} s")
        later = threading.Timer(0.1, writer.write, args=(1_700_000_002_000_000_000,
                                                         1_700_000_003_000_000_000))
        later.start()
        sample = reader.wait_next(5.0)
        later.join()
    log(f"wait_next: {sample}")
    check(sample is not None and sample.valid == 1 and
          sample.reference_ns == 1_700_000_002_000_000_000 and
          sample.offset_ns == -1_000_000_000, f"wait_next() returned {sample}")


if __name__ == "__main__":
    harness.main("python_checks", body, timeout=60)
