#!/usr/bin/python3
"""chronyd takes shmrefclock's samples through `refclock SHM 2`.

The daemon runs the "off-by-one" system source: every second it writes a
sample whose reference time is CLOCK_REALTIME + OFFSET (OFFSET = -1.0 s) and
whose receive time is CLOCK_REALTIME. The reference is therefore 1 s behind
the system clock, i.e. the system clock is 1 s FAST of the refclock, and
chrony must say so.

chronyd runs with -x (never touches the clock; the harness also drops
CAP_SYS_TIME), so its "null" clock driver keeps the correction it would have
made to itself. How chrony 4.3 shows the offset, each with its own sign:

- `chronyc tracking`, "System time: 1.000000000 seconds fast of NTP time":
  the correction still to be applied to the clock. Under -x it is never
  applied, so after the first clock update it stays at the full offset:
  the most robust figure, asserted here. Expected: fast by -OFFSET = 1.000 s.
  (`chronyc -c tracking` prints the same as the signed correction, -1.0:
  positive would mean slow.)
- tracking.log "Offset" of the first clock update (= "Last offset" at that
  moment): +1.0, positive meaning the local clock is ahead. Later updates
  show ~0 because the null driver already counts the first correction.
- refclocks.log "Raw offset" of every sample: reference - receive time,
  = OFFSET = -1.0 (per-sample, 1 us resolution).
- `chronyc sources` "Last sample": local - source, +1000ms until the source
  is selected, then ~0 (the cooked offset); `sourcestats` "Offset" likewise.
"""

import time

import chrony
import harness
from harness import Fail, check, log

UNIT = 2
OFFSET = -1.0          # configured: reference = system clock + OFFSET
TOLERANCE = 0.001      # 1 ms
REFID_HEX = "53484D32"  # "SHM2"


def body(ctx):
    chronyd = chrony.Chronyd(ctx, [f"refclock SHM {UNIT} {chrony.FAST} refid SHM2"])
    harness.daemon_binary()  # skip early if there is nothing to test
    # chronyd first, as on a real system: it creates the segment (0600,
    # root) and the daemon attaches to it.
    chronyd_proc = chronyd.start()
    info = harness.wait_for_segment(UNIT, 10, watch=[chronyd_proc])
    log(f"segment created by chronyd: {info}")

    started = time.monotonic()
    daemon, _ = ctx.start_daemon(ctx.daemon_config(unit=UNIT, offset=OFFSET),
                                 UNIT)

    chronyc_cmd = chronyd.chronyc

    chronyd.wait_selected("SHM2", 30, watch=[chronyd_proc, daemon])
    log(f"chrony selected SHM2 {time.monotonic() - started:.1f} s after the "
        "daemon started")
    # A few more samples, so that what follows is steady state.
    time.sleep(3)
    tracking_text = chronyc_cmd("tracking")
    tracking = chrony.parse_tracking(tracking_text)
    sources = chronyc_cmd("sources")
    sourcestats = chronyc_cmd("sourcestats")
    tracking_csv = chronyc_cmd("-c", "tracking").strip().split(",")
    log("chronyc tracking:\n" + tracking_text.rstrip())
    log("chronyc sources (last line): " + sources.strip().splitlines()[-1])
    log("chronyc sourcestats (last line): " +
        sourcestats.strip().splitlines()[-1])
    log(f"chronyc -c tracking: {','.join(tracking_csv)}")

    # Stop chronyd now so that its logs are complete.
    chronyd_proc.stop()

    failures = []
    expected_fast = -OFFSET  # system clock minus reference time
    check(tracking["Reference ID"].startswith(REFID_HEX),
          f"chrony deselected SHM2: {tracking['Reference ID']}")
    source_line = sources.strip().splitlines()[-1]
    if not source_line.startswith("#* SHM2"):
        failures.append(f"SHM2 is not the selected source: {source_line!r}")
    if tracking["Leap status"] != "Normal":
        failures.append(f"leap status {tracking['Leap status']!r}, "
                        "expected Normal (we write leap 0)")

    fast = chrony.system_time_fast(tracking["System time"])
    log(f"'System time': {tracking['System time']!r} = {fast:+.9f} s "
        f"(+ = fast), expected {expected_fast:+.9f} "
        f"(error {(fast - expected_fast) * 1e6:+.1f} us)")
    if abs(fast - expected_fast) > TOLERANCE:
        failures.append(f"System time {tracking['System time']!r}, expected "
                        f"{expected_fast:.9f} seconds fast +/- {TOLERANCE}")

    correction = float(tracking_csv[4])  # signed: negative = clock is fast
    log(f"-c tracking correction: {correction:+.9f} s, expected "
        f"{OFFSET:+.9f}")
    if abs(correction - OFFSET) > TOLERANCE:
        failures.append(f"-c tracking correction {correction:+.9f}, expected "
                        f"{OFFSET:+.9f}")

    updates = chrony.tracking_log_offsets(ctx.path("tracking.log"), "SHM2")
    log(f"tracking.log offsets of SHM2 clock updates: {updates}")
    if not updates:
        failures.append("no SHM2 clock update in tracking.log")
    elif abs(updates[0] - expected_fast) > TOLERANCE:
        failures.append(f"first clock update's offset {updates[0]:+.9f}, "
                        f"expected {expected_fast:+.9f} (local ahead)")

    raw = chrony.refclock_raw_offsets(ctx.path("refclocks.log"), "SHM2")
    log(f"refclocks.log raw offsets (reference - receive), {len(raw)} "
        f"samples: min {min(raw, default=float('nan')):+.6f} max "
        f"{max(raw, default=float('nan')):+.6f}, expected {OFFSET:+.6f}")
    if len(raw) < 3:
        failures.append(f"only {len(raw)} samples in refclocks.log")
    bad = [x for x in raw if abs(x - OFFSET) > TOLERANCE]
    if bad:
        failures.append(f"{len(bad)} samples off by more than {TOLERANCE} s "
                        f"from {OFFSET}: {bad[:5]}")

    if failures:
        raise Fail("; ".join(failures))


if __name__ == "__main__":
    harness.main("chrony", body, timeout=80)
