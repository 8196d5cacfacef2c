#!/usr/bin/python3
"""chronyd selects an NMEA refclock fed by a fake receiver (fake_receiver.py)
over a pty paced at 9600 baud.

The receiver starts each cycle DELAY = 0.1 s after the UTC second it
reports, as many receivers do; the daemon is configured with offset = DELAY
(shmrefclock.conf(5), offset: NMEA that arrives 0.2 s after the second it names wants 0.2).
So each sample's reference time is the true second + DELAY and its receive
time is when the cycle's first byte arrived, which the receiver wrote at
that same instant: the system clock and the reported time agree but for
the stamping latency (~0.1 ms), and the error of pacing a pty from Python.

chronyd runs with -x (never touches the clock; the harness also drops
CAP_SYS_TIME) and `refclock SHM 0 dpoll 0 poll 0 filter 1 refid NMEA`: one
measurement per sample. Checked:
- `chronyc sources` marks NMEA selected (`#*`), `chronyc tracking` names
  it as the reference;
- "System time" (the correction chrony would make, never applied under -x)
  is within TOLERANCE of 0: the system clock vs the receiver's time;
- every raw offset in refclocks.log (reference - receive) is in
  [-TOLERANCE, 0], and their median in [-MEDIAN_TOLERANCE, 0]: the receive
  stamp can only come after the write (each bound widened by how late the
  fake wrote cycles' first bytes, at worst and in the median, measured in
  the run: under load the Python writer is held up, and the daemon rightly
  stamps the late byte; the median's also by the daemon's mean wait for a
  CPU per wake-up, from its schedstat in the run);
- meanwhile our own reader sees only samples whose reference is exactly
  the reported second + DELAY, stamped within TOLERANCE of the first byte.
"""

import time

import fake_receiver
import chrony
import harness
from fake_receiver import NS, FakeReceiver, SegmentWatcher, toml_string
from harness import Fail, check, log

UNIT = 0
DELAY = 0.1
# Every stamp within this of its cycle's first byte: the stamp is at the
# first byte (~0.1 ms), not after RMC (~75 ms in), which stays 2.5 times
# this away. Not tighter: on this shared 2-CPU VM a single stamp is now and
# then late when the daemon waits for a CPU (seen: 8 ms, and 16.9 ms with
# CI's other suites and builds beside it); MEDIAN_TOLERANCE keeps the test
# sharp. How late stamps are on a quiet machine is the bench's figure.
TOLERANCE = 0.030
MEDIAN_TOLERANCE = 0.001
REFID_HEX = "4E4D4541"  # "NMEA"


def body(ctx):
    chronyd = chrony.Chronyd(ctx, [f"refclock SHM {UNIT} {chrony.FAST} refid NMEA"])
    harness.daemon_binary()
    # chronyd first, as on a real system: it creates the segment (0600).
    chronyd_proc = chronyd.start()
    info = harness.wait_for_segment(UNIT, 10, watch=[chronyd_proc])
    log(f"segment created by chronyd: {info}")

    receiver = FakeReceiver(ctx.tmp, "gnss0", delay=DELAY).start()
    # chronyd clears `valid` as it reads (every second, at a phase of its
    # own): our reader sees a sample only if it polls between the publish
    # and chronyd's read, so it polls often; one right sample is enough.
    watcher = SegmentWatcher(UNIT, interval=0.005).start()
    try:
        config = fake_receiver.daemon_config(ctx, [{
            "name": '"gps"', "source": '"nmea"',
            "device": toml_string(receiver.device), "unit": UNIT,
            "offset": repr(DELAY), "min-fixes": 3}])
        started = time.monotonic()
        daemon = ctx.start("shmrefclock",
                           [harness.daemon_binary(), "-c", config])

        chronyc_cmd = chronyd.chronyc

        chronyd.wait_selected("NMEA", 30, watch=[chronyd_proc, daemon])
        log(f"chrony selected NMEA {time.monotonic() - started:.1f} s after "
            "the daemon started")
        time.sleep(3)  # a few more samples: steady state
        tracking_text = chronyc_cmd("tracking")
        sources = chronyc_cmd("sources")
        log("chronyc tracking:\n" + tracking_text.rstrip())
        log("chronyc sources (last line): " + sources.strip().splitlines()[-1])
        chronyd_proc.stop()  # its logs are complete now
        check(daemon.running(), "the daemon exited")
        # How long the daemon's loop waited for a CPU per wake-up, in this
        # run: a stamp is late by that wait, rightly (the sanitizer build
        # beside stress-ng: a median 1 ms later than the fake's writes).
        _, wait_ns, slices = harness.schedstat(daemon.pid)
        cpu_wait = wait_ns / max(slices, 1) / NS
    finally:
        watcher.stop()
        receiver.stop()

    failures = []
    # How late the fake itself wrote a cycle's first byte (it runs beside
    # compiles in CI): a raw offset carries that lateness, rightly.
    lateness = [(r.first_written_ns - r.boundary * NS - receiver.delay_ns) / NS
                for r in receiver.cycles]
    late = max(lateness)
    bound = TOLERANCE + max(late, 0.0)
    log(f"the fake wrote a cycle's first byte at worst {late * 1e3:.3f} ms late, "
        f"median {fake_receiver.percentile(lateness, 0.5) * 1e3:.3f} ms; the daemon "
        f"waited {cpu_wait * 1e3:.3f} ms for a CPU per wake-up (schedstat); raw "
        f"offsets may be down to -{bound * 1e3:.3f} ms, their median less each "
        f"cycle's lateness to -{(MEDIAN_TOLERANCE + cpu_wait) * 1e3:.3f} ms")
    tracking = chrony.parse_tracking(tracking_text)
    if not tracking.get("Reference ID", "").startswith(REFID_HEX):
        failures.append("chrony deselected NMEA: "
                        f"{tracking.get('Reference ID')}")
    source_line = sources.strip().splitlines()[-1]
    if not source_line.startswith("#* NMEA"):
        failures.append(f"NMEA is not the selected source: {source_line!r}")

    fast = chrony.system_time_fast(tracking["System time"])
    log(f"'System time': {tracking['System time']!r} = {fast * 1e6:+.1f} us "
        f"(+ = system clock ahead of the receiver's time), expected 0 "
        f"+/- {bound * 1e3:.0f} ms")
    if abs(fast) > bound:
        failures.append(f"System time {tracking['System time']!r}, expected "
                        f"0 +/- {bound:.6f} s")

    samples = chrony.refclock_raw_samples(ctx.path("refclocks.log"), "NMEA")
    raw = [offset for _, offset in samples]
    if raw:
        log(f"refclocks.log raw offsets (reference - receive), {len(raw)} "
            f"samples: min {min(raw) * 1e6:+.1f} us, median "
            f"{fake_receiver.percentile(raw, 0.5) * 1e6:+.1f} us, max "
            f"{max(raw) * 1e6:+.1f} us")
    if len(raw) < 3:
        failures.append(f"only {len(raw)} NMEA samples in refclocks.log")
    # The median is judged sample by sample against its own cycle's
    # lateness: chrony logs a few samples, and the fake's median lateness
    # over every cycle says little about those few (seen in CI: five raw
    # offsets, median -4.7 ms, from cycles the fake wrote up to 9 ms late,
    # against a bound from a median lateness of 2.3 ms).
    by_second = {r.boundary: r for r in receiver.cycles}
    own = []  # raw offset + the lateness of the cycle it came from
    for when, offset in samples:
        record = by_second.get(int(when - DELAY))
        if record is not None:
            own.append(offset + (record.first_written_ns - record.boundary * NS
                                 - receiver.delay_ns) / NS)
    own_bound = MEDIAN_TOLERANCE + cpu_wait
    if own:
        log(f"raw offset + its cycle's lateness, {len(own)} samples: median "
            f"{fake_receiver.percentile(own, 0.5) * 1e6:+.1f} us")
    if raw and len(own) < len(raw):
        failures.append(f"{len(raw) - len(own)} of {len(raw)} raw offsets name no cycle "
                        "the fake wrote")
    if raw and fake_receiver.percentile(raw, 0.5) > 1e-6:
        failures.append(f"median raw offset {fake_receiver.percentile(raw, 0.5):+.6f} s, "
                        "expected at most 0")
    if own and not -own_bound <= fake_receiver.percentile(own, 0.5):
        failures.append(f"median raw offset less its cycle's lateness "
                        f"{fake_receiver.percentile(own, 0.5):+.6f} s, expected at least "
                        f"-{own_bound:.6f}")
    bad = [x for x in raw if not -bound <= x <= 1e-6]
    if bad:
        failures.append(f"{len(bad)} raw offsets outside [-{bound:.6f}, 0]: "
                        f"{bad[:5]}")

    samples, _ = watcher.snapshot()
    problems, good = fake_receiver.verify_samples(
        samples, receiver, round(DELAY * NS), round(TOLERANCE * NS))
    log(f"our reader saw {len(samples)} samples, {len(good)} right")
    failures += problems
    if not good:
        failures.append("our reader saw no sample")

    if failures:
        raise Fail("; ".join(failures))


if __name__ == "__main__":
    harness.main("nmea-chrony", body, timeout=50)
