#!/usr/bin/python3
"""chronyd selects the PPS unit (`refclock SHM 1`, then `refclock SOCK`)
and measures the edge.

The daemon runs with the emulated /dev/pps0 (test_pps.py, pps-emulator): its
assert edges come EDGE_OFFSET_NS = +20 us after each second of the system
clock, with +/-1 us of seeded jitter. Two pps refclocks read it: unit 1
numbered by `lock = "clock"` (a system refclock 0.1 s ahead, standing in for
a calibrated NMEA refclock: anything within 0.4 s numbers the same second),
unit 3 by `lock = "system"`.

The sign, from first principles. A PPS edge happens at a true second N. The
kernel stamps it with the system clock, which then reads N + 20 us: the
system clock is 20 us AHEAD of true time, i.e. FAST. The daemon publishes
reference = N, receive = N + 20 us. chrony's offset of a sample is reference
- receive (true - local) = -20 us, which is what refclocks.log shows as the
raw offset; to correct itself chrony would have to slow the clock by 20 us,
so `chronyc tracking` says "0.000020... seconds fast of NTP time", and
`chronyc -c tracking` the signed correction -2.0e-05 (negative = fast; see
test_chrony.py for how chrony 4.3 shows offsets under -x). Expected within
10 us (issue 4's "within 10 us of the emulated edge offset").
"""

import random
import time

import chrony
import harness
import test_pps
from harness import Fail, check, log

EDGE_OFFSET_NS = 20_000
JITTER_NS = 1_000
TOLERANCE = 10e-6          # seconds
EXPECTED_RAW = -EDGE_OFFSET_NS / 1e9   # reference - receive
EXPECTED_FAST = EDGE_OFFSET_NS / 1e9   # system clock ahead of true time


def body(ctx):
    daemon = harness.daemon_binary()
    library = test_pps.emulator_library()
    seed = random.randrange(1, 2**62)
    log(f"emulator jitter seed {seed} (SHMREFCLOCK_PPS_SEED)")

    # PPS3, numbered by the system clock, is logged but not selectable.
    chronyd = chrony.Chronyd(ctx, [
        f"refclock SHM 1 {chrony.FAST} refid PPS1",
        f"refclock SHM 3 {chrony.FAST} refid PPS3 noselect"])
    chronyd_proc = chronyd.start()
    harness.wait_for_segment(1, 10, watch=[chronyd_proc])

    sock = ctx.path("pps.sock")
    config = ctx.write("shmrefclock.conf", f"""\
[[refclock]]
name = "clock"
source = "system"
unit = 2
offset = 0.1

[[refclock]]
name = "pps"
source = "pps"
device = "/dev/pps0"
lock = "clock"
unit = 1
sock = "{sock}"

[[refclock]]
name = "pps-system"
source = "pps"
device = "/dev/pps0"
lock = "system"
unit = 3
""")
    env = test_pps.emulator_env(daemon, library, ctx.path("emulator.trace"),
                                offset_ns=EDGE_OFFSET_NS,
                                jitter_ns=JITTER_NS, seed=seed)
    started = time.monotonic()
    proc = ctx.start("shmrefclock", [daemon, "-c", config], env=env)

    failures = check_selected(ctx, chronyd, chronyd_proc, proc, "PPS1",
                              ("PPS1", "PPS3"), started)

    # The same pulses over chrony's SOCK refclock, from a second chronyd
    # started while the daemon runs: its SOCK output connects once the
    # socket exists.
    sock_chronyd = chrony.Chronyd(
        ctx, [f"refclock SOCK {sock} poll 0 filter 1 refid PPSS"],
        name="chronyd-sock")
    started = time.monotonic()
    sock_proc = sock_chronyd.start("chronyd-sock")
    failures += check_selected(ctx, sock_chronyd, sock_proc, proc, "PPSS",
                               ("PPSS",), started)
    if failures:
        raise Fail("; ".join(failures))


def check_selected(ctx, chronyd, chronyd_proc, proc, refid, raw_refids,
                   started):
    """Wait until chronyd selects `refid`, then compare what it measured
    with the emulated edge; the list of failures."""
    chronyc_cmd = chronyd.chronyc

    chronyd.wait_selected(refid, 40, watch=[chronyd_proc, proc])
    log(f"chrony selected {refid} {time.monotonic() - started:.1f} s after "
        "starting")
    time.sleep(3)
    tracking_text = chronyc_cmd("tracking")
    tracking = chrony.parse_tracking(tracking_text)
    sources = chronyc_cmd("sources")
    tracking_csv = chronyc_cmd("-c", "tracking").strip().split(",")
    log("chronyc tracking:\n" + tracking_text.rstrip())
    log("chronyc sources:\n" + sources.rstrip())
    chronyd_proc.stop()

    failures = []
    if not any(line.startswith(f"#* {refid}") for line in sources.splitlines()):
        failures.append(f"{refid} is not the selected source")
    fast = chrony.system_time_fast(tracking["System time"])
    log(f"{refid}: 'System time' {fast * 1e6:+.3f} us fast, expected "
        f"{EXPECTED_FAST * 1e6:+.3f} us "
        f"(error {(fast - EXPECTED_FAST) * 1e6:+.3f} us)")
    if abs(fast - EXPECTED_FAST) > TOLERANCE:
        failures.append(f"{refid}: System time {tracking['System time']!r}: "
                        f"expected {EXPECTED_FAST:.9f} s fast +/- {TOLERANCE}")
    correction = float(tracking_csv[4])
    log(f"{refid}: -c tracking correction {correction * 1e6:+.3f} us, "
        f"expected {-EXPECTED_FAST * 1e6:+.3f} us")
    if abs(correction + EXPECTED_FAST) > TOLERANCE:
        failures.append(f"{refid}: -c tracking correction {correction:+.9f}, "
                        f"expected {-EXPECTED_FAST:+.9f}")
    for raw_refid in raw_refids:
        raw = chrony.refclock_raw_offsets(ctx.path("refclocks.log"), raw_refid)
        if raw:
            mean = sum(raw) / len(raw)
            log(f"{raw_refid} raw offsets (reference - receive), {len(raw)} "
                f"samples: mean {mean * 1e6:+.3f} us, min "
                f"{min(raw) * 1e6:+.3f} max {max(raw) * 1e6:+.3f}, expected "
                f"{EXPECTED_RAW * 1e6:+.3f} +/- {JITTER_NS / 1e3:.0f} us "
                "jitter")
        if len(raw) < 3:
            failures.append(f"{raw_refid}: only {len(raw)} samples in "
                            "refclocks.log")
        bad = [x for x in raw if abs(x - EXPECTED_RAW) > TOLERANCE]
        if bad:
            failures.append(f"{raw_refid}: {len(bad)} raw offsets more than "
                            f"{TOLERANCE} s from {EXPECTED_RAW}: {bad[:5]}")
    return failures


if __name__ == "__main__":
    harness.main("pps_chrony", body, timeout=90)
