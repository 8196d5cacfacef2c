#!/usr/bin/python3
"""chronyd takes shmrefclock's samples through `refclock SOCK PATH`, and gets
them again after it restarts.

The daemon runs a system refclock with `sock = PATH` (no SHM unit) and
OFFSET = -1.0 s: each sample's reference time is CLOCK_REALTIME - 1 s and its
receive time CLOCK_REALTIME. Each datagram is a struct sock_sample with
tv = receive time and offset = reference - receive = -1.0; chrony's
refclock_sock.c turns that into RCL_AddSample(tv, tv + offset), whose raw
offset (true - local, refclocks.log) is therefore -1.0. The reference being
1 s behind the system clock means the system clock is 1 s FAST of the
refclock: `chronyc tracking` "System time: 1.000000000 seconds fast of NTP
time", `chronyc -c tracking` the signed correction -1.0 (see test_chrony.py
for how chrony 4.3 shows offsets under -x, where nothing is ever corrected).

Then chronyd is stopped and started again with the same socket path: it
unlinks and re-binds the path, the daemon's connected socket now points at a
dead peer (send: ECONNREFUSED), and the daemon must reconnect so that the new
chronyd selects the source again, without a restart of the daemon.
"""

import time

import chrony
import harness
from harness import Fail, check, log

OFFSET = -1.0          # configured: reference = system clock + OFFSET
TOLERANCE = 0.001      # 1 ms; the offset is exact, this is chrony's rounding
REFID = "SOCK"
REFID_HEX = "534F434B"  # "SOCK"
DOWN_SECONDS = 3       # chronyd away long enough to drop a few samples


def body(ctx):
    daemon_binary = harness.daemon_binary()
    refclock_sock = ctx.path("refclock.sock")
    # Each datagram is one measurement (poll 0, filter 1), so chrony selects
    # the source after a few samples.
    chronyd = chrony.Chronyd(
        ctx, [f"refclock SOCK {refclock_sock} poll 0 filter 1 refid {REFID}"])
    daemon_conf = ctx.write("shmrefclock.conf", f"""\
[[refclock]]
name = "off-by-one"
source = "system"
sock = "{refclock_sock}"
offset = {OFFSET!r}
interval = 1.0
""")

    def start_chronyd(name):
        proc = chronyd.start(name)
        # chronyd binds the refclock socket at start-up (sock_initialise).
        harness.wait_until(lambda: refclock_sock.exists(), 10,
                           f"{name} to bind {refclock_sock}", watch=[proc])
        return proc

    chronyc_cmd = chronyd.chronyc

    def wait_selected(procs, what):
        started = time.monotonic()
        chronyd.wait_selected(REFID, 30, watch=procs)
        log(f"{what}: {time.monotonic() - started:.1f} s")
        time.sleep(3)  # a few more samples: steady state

    def check_offsets(label, failures):
        tracking_text = chronyc_cmd("tracking")
        tracking = chrony.parse_tracking(tracking_text)
        sources = chronyc_cmd("sources").strip().splitlines()[-1]
        csv = chronyc_cmd("-c", "tracking").strip().split(",")
        log(f"{label}: chronyc tracking:\n{tracking_text.rstrip()}")
        log(f"{label}: chronyc sources (last line): {sources}")
        if not tracking["Reference ID"].startswith(REFID_HEX):
            failures.append(f"{label}: chrony deselected {REFID}: "
                            f"{tracking['Reference ID']}")
        if not sources.startswith(f"#* {REFID}"):
            failures.append(f"{label}: {REFID} is not the selected source: "
                            f"{sources!r}")
        fast = chrony.system_time_fast(tracking["System time"])
        expected_fast = -OFFSET
        log(f"{label}: 'System time' {fast:+.9f} s (+ = fast), expected "
            f"{expected_fast:+.9f} (error {(fast - expected_fast) * 1e6:+.1f} "
            "us)")
        if abs(fast - expected_fast) > TOLERANCE:
            failures.append(f"{label}: System time {tracking['System time']!r}"
                            f", expected {expected_fast:.9f} seconds fast")
        correction = float(csv[4])
        if abs(correction - OFFSET) > TOLERANCE:
            failures.append(f"{label}: -c tracking correction "
                            f"{correction:+.9f}, expected {OFFSET:+.9f}")
        if tracking["Leap status"] != "Normal":
            failures.append(f"{label}: leap status "
                            f"{tracking['Leap status']!r}, expected Normal")

    def check_raw(label, path, failures):
        raw = chrony.refclock_raw_offsets(path, REFID)
        log(f"{label}: {path.name} raw offsets (reference - receive), "
            f"{len(raw)} samples: min {min(raw, default=float('nan')):+.6f} "
            f"max {max(raw, default=float('nan')):+.6f}, expected "
            f"{OFFSET:+.6f}")
        if len(raw) < 3:
            failures.append(f"{label}: only {len(raw)} SOCK samples in "
                            f"{path.name}")
        bad = [x for x in raw if abs(x - OFFSET) > TOLERANCE]
        if bad:
            failures.append(f"{label}: {len(bad)} samples off by more than "
                            f"{TOLERANCE} s from {OFFSET}: {bad[:5]}")

    failures = []
    first = start_chronyd("chronyd")
    daemon = ctx.start("shmrefclock", [daemon_binary, "-c", daemon_conf])
    wait_selected([first, daemon], f"chrony to select {REFID}")
    check_offsets("first chronyd", failures)

    # Restart: stop (chronyd removes its socket on exit), stay down for a few
    # of the daemon's samples, start again with the same path.
    first.stop()
    first_log = ctx.path("refclocks-first.log")
    ctx.path("refclocks.log").rename(first_log)
    check_raw("first chronyd", first_log, failures)
    log(f"chronyd stopped; starting it again in {DOWN_SECONDS} s")
    time.sleep(DOWN_SECONDS)
    check(daemon.running(), "the daemon exited while chronyd was down")
    second = start_chronyd("chronyd-restarted")
    wait_selected([second, daemon],
                  f"the restarted chrony to select {REFID} again")
    check_offsets("restarted chronyd", failures)
    second.stop()
    check_raw("restarted chronyd", ctx.path("refclocks.log"), failures)

    check(daemon.running(), "the daemon exited")
    daemon.stop()
    output = daemon.output()
    # The outage is logged once (rate-limited), and the recovery once.
    dropped = [line for line in output.splitlines()
               if "chrony SOCK" in line and "dropping samples" in line]
    log(f"daemon log while chronyd was down: {dropped}")
    if not 1 <= len(dropped) <= 2:
        failures.append(f"expected the outage logged once (plus a summary), "
                        f"got {len(dropped)} lines")
    if "delivering samples again" not in output:
        failures.append("the daemon did not log that delivery resumed")

    if failures:
        raise Fail("; ".join(failures))


if __name__ == "__main__":
    harness.main("sock_chrony", body, timeout=110)
