#!/usr/bin/python3
"""No torn sample crosses the module and the library, in either direction.

1. A C++ writer (shm_torn write, linked to libshmrefclock.so) writes
   1,000,000 samples as fast as it can while a Python thread reads the unit
   with shmrefclock.Reader as fast as it can.
2. A Python thread writes 1,000,000 samples with shmrefclock.Writer while a
   C++ reader (shm_torn read) reads them.

Every field of sample i is derived from i (payload(), the same formula as
shm_torn.cpp's), so a copy mixing two writes cannot decode to one i. The
checker is first shown a torn sample, so that it is known to catch one.
Only valid samples count, as for chrony and NTPsec: while `valid` is 0 the
fields may be mid-write.
"""

import json
import os
import subprocess
import threading
import time

import libtest
from libtest import harness
from harness import Fail, check, log

N = 1_000_000
BASE_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 1_000_000_007


def payload(i):
    reference = BASE_NS + i * STEP_NS
    return (reference, reference + 500_000_000 + (i % 1009) * 1000, i % 3,
            -1 - (i % 29))


def decode(reference_ns, receive_ns, leap, precision):
    """The i a sample was written as, or None when it is torn."""
    d = reference_ns - BASE_NS
    if d <= 0 or d % STEP_NS:
        return None
    i = d // STEP_NS
    if payload(i) != (reference_ns, receive_ns, leap, precision):
        return None
    return i


def self_test():
    """The checker must see a mix of two writes."""
    a, b = payload(41), payload(42)
    check(decode(*a) == 41 and decode(*b) == 42, "decode() rejects whole samples")
    mixes = [(a[0], b[1], a[2], a[3]), (a[0], a[1], b[2], a[3]),
             (a[0], a[1], a[2], b[3]),
             # seconds of one write, nanoseconds of the next
             ((a[0] // 10**9) * 10**9 + b[0] % 10**9, a[1], a[2], a[3])]
    for mix in mixes:
        check(decode(*mix) is None, f"decode() accepts the torn sample {mix}")


def python_reads_cpp_writes(ctx, shmrefclock, helper, unit):
    stats = dict(reads=0, busy=0, withdrawn=0, taken=0, distinct=0, torn=0)
    done = threading.Event()

    def reader_thread():
        while not harness.segment_info(unit):
            time.sleep(0.001)
        last = 0
        with shmrefclock.Reader(unit) as reader:
            while last != N and not done.is_set():
                stats["reads"] += 1
                s = reader.read()
                if s is None:
                    stats["busy"] += 1
                    continue
                if s.valid != 1:
                    stats["withdrawn"] += 1
                    continue
                stats["taken"] += 1
                i = decode(s.reference_ns, s.receive_ns, s.leap, s.precision)
                if i is None:
                    stats["torn"] += 1
                    if stats["torn"] <= 5:
                        log(f"torn: {s}")
                elif i != last:
                    stats["distinct"] += 1
                    last = i
        stats["last"] = last

    # The segment exists and the reader is attached before the writer starts,
    # so that the reader sees the writes from the first.
    shmrefclock.Writer(unit).close()
    thread = threading.Thread(target=reader_thread)
    thread.start()
    harness.wait_until(lambda: stats["reads"] > 0, 10, "the reader thread")
    started = time.monotonic()
    writer = ctx.start("shm_torn-write", [helper, "write", unit, N])
    harness.wait_until(lambda: writer.poll() is not None, 120,
                       "the C++ writer to finish", interval=0.1)
    done.set()
    thread.join()
    elapsed = time.monotonic() - started
    log(f"C++ writer: {writer.output().strip()}")
    log(f"Python reader thread: {stats} ({elapsed:.1f} s)")
    check(writer.returncode == 0, f"shm_torn write exited {writer.returncode}")
    check(stats["last"] == N, f"the reader never saw sample {N}")
    check(stats["torn"] == 0, f"{stats['torn']} torn samples")
    # Concurrency actually happened: many samples seen while being written.
    check(stats["distinct"] >= 100, f"only {stats['distinct']} distinct samples "
          "seen: the reader did not overlap the writer")
    return stats


def cpp_reads_python_writes(ctx, shmrefclock, helper, unit):
    reader = ctx.start("shm_torn-read", [helper, "read", unit, N])
    written = {}

    def writer_thread():
        with shmrefclock.Writer(unit) as w:
            started = time.monotonic()
            for i in range(1, N + 1):
                w.write(*payload(i))
            written["seconds"] = time.monotonic() - started
            # Keep the last sample valid until the reader has taken it.
            deadline = time.monotonic() + 30
            while reader.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)

    thread = threading.Thread(target=writer_thread)
    thread.start()
    thread.join()
    harness.wait_until(lambda: reader.poll() is not None, 30,
                       "the C++ reader to finish", interval=0.1)
    out = reader.output().strip().splitlines()
    log(f"Python writer thread: {N} samples in {written.get('seconds', 0):.1f} s")
    log(f"C++ reader: {out}")
    check(reader.returncode == 0, f"shm_torn read exited {reader.returncode} "
          "(1: torn samples)")
    stats = json.loads(out[-1])
    check(stats["torn"] == 0, f"{stats['torn']} torn samples")
    check(stats["distinct"] >= 100, f"only {stats['distinct']} distinct "
          "samples seen: the reader did not overlap the writer")
    return stats


def body(ctx):
    shmrefclock = libtest.import_module()
    helper = os.environ.get("SHMREFCLOCK_SHM_TORN")
    check(helper and os.access(helper, os.X_OK),
          f"SHMREFCLOCK_SHM_TORN={helper!r} is not an executable")
    self_test()
    python_reads_cpp_writes(ctx, shmrefclock, helper, 5)
    cpp_reads_python_writes(ctx, shmrefclock, helper, 6)


if __name__ == "__main__":
    harness.main("python_torn", body, timeout=240)
