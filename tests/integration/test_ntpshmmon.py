#!/usr/bin/python3
"""gpsd's ntpshmmon, an independent SHM reader, sees shmrefclock's samples.

The daemon runs the "off-by-one" system source on unit 2: reference time =
CLOCK_REALTIME + OFFSET (OFFSET = -1.0 s), receive time = CLOCK_REALTIME.

ntpshmmon (gpsd 3.22) scans units 0..255 and prints one line per new sample:

    sample NTP2  <Seen@>  <Clock>  <Real>  <L> <Prc>

gpsd's names are easy to misread: "Clock" is the segment's receive time
(receiveTimeStamp: the local system clock when the sample was taken) and
"Real" is its reference time (clockTimeStamp: the true time). So
Real - Clock = OFFSET = -1.000 s here. With -o, "Seen@" is replaced by
"Offset" = Clock - Real = receive - reference = +1.000 s (gpsd's sign:
positive when the local clock is ahead).
"""

import re

import harness
from harness import check, log

UNIT = 2
OFFSET = -1.0          # configured: reference = system clock + OFFSET
TOLERANCE = 0.001      # 1 ms
NS = 1_000_000_000
LINE = re.compile(r"sample\s+NTP(\d+)\s+(-?[0-9]+\.[0-9]{9})\s+"
                  r"(\d+)\.(\d{9})\s+(\d+)\.(\d{9})\s+(\d+)\s+(-?\d+)")


def parse(output):
    """(unit, seen-or-offset string, receive ns, reference ns, leap, prec)."""
    samples = []
    for line in output.splitlines():
        match = LINE.fullmatch(line.strip())
        if match:
            unit, first, csec, cnsec, rsec, rnsec, leap, prec = match.groups()
            samples.append((int(unit), first,
                            int(csec) * NS + int(cnsec),   # "Clock"
                            int(rsec) * NS + int(rnsec),   # "Real"
                            int(leap), int(prec), line.strip()))
    return samples


def body(ctx):
    ntpshmmon = harness.require_program("ntpshmmon", "gpsd")
    harness.daemon_binary()

    # The daemon first: ntpshmmon only attaches to segments that exist.
    daemon, _ = ctx.start_daemon(ctx.daemon_config(unit=UNIT, offset=OFFSET),
                                 UNIT)

    failures = []
    # -n 3: exit after three samples (one a second); -t bounds it anyway.
    done = ctx.run("ntpshmmon", [ntpshmmon, "-n", "3", "-t", "15"],
                   timeout=25)
    log(f"ntpshmmon -n 3 (exit {done.returncode}):\n{done.stdout.rstrip()}")
    check(done.returncode == 0, f"ntpshmmon exited {done.returncode}: "
          f"{done.stderr.strip()}")
    samples = parse(done.stdout)
    mine = [s for s in samples if s[0] == UNIT]
    others = sorted({s[0] for s in samples} - {UNIT})
    if others:
        failures.append(f"samples from units {others}, only {UNIT} exists")
    if len(mine) < 3:
        failures.append(f"{len(mine)} NTP{UNIT} samples, expected 3")
    for unit, seen, receive_ns, reference_ns, leap, prec, line in mine:
        offset = (reference_ns - receive_ns) / NS
        seen_after = float(seen) - receive_ns / NS
        log(f"NTP{unit}: Real - Clock (reference - receive) = {offset:+.9f} s"
            f", expected {OFFSET:+.9f}; seen {seen_after * 1e3:.1f} ms after "
            f"receive; leap {leap}, precision {prec}")
        if abs(offset - OFFSET) > TOLERANCE:
            failures.append(f"reference - receive {offset:+.9f} s, expected "
                            f"{OFFSET:+.9f} +/- {TOLERANCE}: {line!r}")
        if leap != 0:
            failures.append(f"leap {leap}, expected 0: {line!r}")
        # Seen after it was received, and (one a second) within ~1 s of it.
        if not 0 <= seen_after <= 1.5:
            failures.append(f"seen {seen_after:+.3f} s after receive: "
                            f"{line!r}")
    receive_times = [s[2] for s in mine]
    if len(set(receive_times)) != len(receive_times):
        failures.append("ntpshmmon reported the same sample twice")

    # -o: gpsd's own "Offset" column, Clock - Real.
    done = ctx.run("ntpshmmon-o", [ntpshmmon, "-o", "-n", "2", "-t", "15"],
                   timeout=25)
    log(f"ntpshmmon -o -n 2 (exit {done.returncode}):\n"
        f"{done.stdout.rstrip()}")
    with_offset = [s for s in parse(done.stdout) if s[0] == UNIT]
    if not with_offset:
        failures.append(f"ntpshmmon -o showed no NTP{UNIT} sample")
    for unit, shown, receive_ns, reference_ns, leap, prec, line in with_offset:
        expected = -OFFSET  # receive - reference
        log(f"NTP{unit}: Offset column {float(shown):+.9f} s, expected "
            f"{expected:+.9f} (Clock - Real)")
        if abs(float(shown) - expected) > TOLERANCE:
            failures.append(f"-o Offset {shown}, expected {expected:+.9f}")

    check(not failures, "; ".join(failures))


if __name__ == "__main__":
    harness.main("ntpshmmon", body, timeout=50)
