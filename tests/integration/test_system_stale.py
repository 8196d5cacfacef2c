#!/usr/bin/python3
"""A system refclock's sample is withdrawn 2 s after it was taken, whatever
its `interval` (issue 18, item 5; DESIGN.md: a source that stops delivering
goes stale within 2 s).

With interval = 6, the daemon used to keep each sample valid for the whole
6 s, so a reader polling just before the next one took a 6-second-old
sample as current. The segment is read every 50 ms: every valid sample seen
must be younger than the 2 s bound plus a margin for the stale timer firing
late on a loaded machine (1 s, still far from the interval), and between
two samples the segment must be seen withdrawn (valid = 0).
"""

import time

import harness
from harness import check, log

UNIT = 2
INTERVAL = 6.0
STALE_AFTER = 2.0
MARGIN = 1.0


def body(ctx):
    config = ctx.daemon_config(unit=UNIT, offset=0.0, interval=INTERVAL)
    proc, first = ctx.start_daemon(config, UNIT)
    reader = harness.ShmReader(UNIT)
    try:
        samples = [first.key()]
        withdrawn_between = False
        oldest = 0.0
        deadline = time.monotonic() + 4 * INTERVAL
        while len(samples) < 3:
            check(time.monotonic() < deadline,
                  f"saw {len(samples)} samples in {4 * INTERVAL} s at interval {INTERVAL}")
            check(proc.running(), "the daemon exited")
            sample = reader.read()
            now_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
            if sample.valid == 1:
                age = (now_ns - sample.receive_ns) / 1e9
                oldest = max(oldest, age)
                check(age < STALE_AFTER + MARGIN,
                      f"a valid sample {age:.3f} s old (interval {INTERVAL} s): {sample}")
                if sample.key() != samples[-1]:
                    samples.append(sample.key())
            else:
                # Every read follows the first valid sample: a withdrawal.
                withdrawn_between = True
            time.sleep(0.05)
        check(withdrawn_between,
              "the segment was never seen withdrawn (valid = 0) between samples")
        log(f"{len(samples)} samples at interval {INTERVAL} s; the oldest valid one seen was "
            f"{oldest:.3f} s old; withdrawn between samples")
    finally:
        reader.close()


if __name__ == "__main__":
    harness.main("system_stale", body, timeout=60)
