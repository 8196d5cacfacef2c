#!/usr/bin/python3
"""A leap second through the real daemon (issue 8, Done-when 3).

A fake receiver on a pty (fake_receiver.py) sends one u-blox cycle a second
naming 2026-12-31 23:59:52 ... 23:59:59, 23:59:60, 2027-01-01 00:00:00 ...
00:00:03; the daemon reads it as `source = "nmea"` and writes SHM unit 0 (a
real SysV segment, in the IPC namespace harness.py makes) and a chrony SOCK
socket this test binds. 2026-12-31 is after the build's floor date
(2026-11-01), so the parser takes the date as it is; a leap-second list
built here (valid SHA-1, expiring 2027-06-30) schedules an insertion at the
end of 2026-12-31 (tzdata's list has none there, and 2016-12-31, its last,
is before the floor: it would be refused as implausible).

The daemon's clock is faked with libfaketime so that it reads what a kernel
that inserts the leap second reads: the receiver's seconds (plus its
delay) up to 23:59:59, then 23:59:59 again during 23:59:60 (the offset in
the FAKETIME_TIMESTAMP_FILE goes back one second when the 23:59:60 cycle
is about to be written; FAKETIME_NO_CACHE makes every clock read see it),
then the receiver's seconds again. CLOCK_MONOTONIC is not faked
(FAKETIME_DONT_FAKE_MONOTONIC): it runs through the leap second as the
kernel's does, and the daemon's cycle check measures elapsed time on it.
The test itself, and the receiver's pacing, run on the real clock.

Checked, with the segment read after every cycle and watched throughout:
- 23:59:52 and 23:59:53 acquire (min-fixes 3): nothing valid yet;
- every other second but 23:59:60 is published with its exact reference
  second, its receive stamp the receiver's delay after it (a second off
  would be 1 s), `leap` 1 before the leap and 0 after;
- 23:59:60 is never published (neither SHM nor SOCK): no sample names
  23:59:59 twice or 00:00:00 early;
- 00:00:00 is published right after its own cycle: the leap second did not
  restart acquisition (no "does not follow" warning, no jump);
- the SOCK datagrams carry the same seconds and `leap` values.

Case `invented`: the same receiver with a list that schedules nothing at
the end of 2026-12-31 (and a daemon clock that does not repeat 23:59:59:
no kernel inserts a second the list does not have). The receiver's
23:59:60 is refused with a warning naming it, and nothing after it is
published: from 00:00:00 on the receiver is one second behind the believed
timeline, a step on probation (issue 18).
"""

import calendar
import os
import socket
import struct
import sys
import time

import fake_receiver as fr
import harness
from harness import Fail, check, log
from test_leap_seconds import (SOCK_FORMAT, SOCK_MAGIC, faketime_lib,
                               hand_list)

UNIT = 0
NS = 1_000_000_000
MIN_FIXES = 3
ATTEMPTS = 3
DELAY = 0.1  # the receiver's first byte after the second it names
NEW_YEAR = calendar.timegm((2027, 1, 1, 0, 0, 0))
LEAP = "23:59:60"
# What the receiver names, one cycle a second: POSIX seconds, and LEAP.
NAMES = ([NEW_YEAR - k for k in range(8, 0, -1)] + [LEAP] +
         [NEW_YEAR + k for k in range(4)])


def name_text(name):
    return "2026-12-31T23:59:60Z" if name == LEAP else time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(name))


# A cycle written (or handed to the daemon) this late may rightly be
# refused as off the timeline: half the daemon's 50 ms tolerance
# (core/timeline.hpp).
LATE_NS = 25_000_000


class WriterStalled(Exception):
    """The fake receiver (this process), or the machine, held a cycle up by
    more than LATE_NS: the daemon may rightly refuse it, so the run says
    nothing about the leap second. Run again."""


def scenario(ctx, case, attempt):
    tag = f"{case}-{attempt}"  # file names: a retried run starts afresh
    daemon_binary = harness.daemon_binary()
    lib = faketime_lib()
    scheduled = case == "scheduled"
    jan01_2017 = calendar.timegm((2017, 1, 1, 0, 0, 0))
    entries = [(jan01_2017, 37)] + ([(NEW_YEAR, 38)] if scheduled else [])
    leap_list = ctx.write(f"{tag}.list", hand_list(
        entries, expires=calendar.timegm((2027, 6, 28, 0, 0, 0)),
        updated=calendar.timegm((2026, 7, 6, 0, 0, 0))))
    sock_path = ctx.path(f"{tag}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))

    # Each cycle in one write (paced=False): what is checked here is the
    # seconds and their leap flags, not the stamp's place in a paced line,
    # and a cycle written at once cannot be split in two by a stall of this
    # process or of the machine, only be late as a whole (WriterStalled).
    receiver = fr.FakeReceiver(ctx.tmp, name=f"gnss-{tag}", delay=DELAY,
                               paced=False)
    conf = fr.daemon_config(ctx, [{
        "name": '"gps"', "source": '"nmea"',
        "device": fr.toml_string(receiver.device), "baud": 9600,
        "unit": UNIT, "sock": fr.toml_string(sock_path),
        "min-fixes": MIN_FIXES,
        # After an invented leap second the receiver is a second behind
        # the daemon's clock: a synchronized kernel witness would refuse
        # what follows, and what this case checks is the core's own rule.
        "witness": "true" if scheduled else "false"}], name=tag)
    conf.write_text(conf.read_text().replace(
        "[daemon]\n", f"[daemon]\nleap-seconds = {fr.toml_string(leap_list)}\n"))

    # The first cycle goes out at real second `start`; the daemon's clock is
    # `fake_minus_real` ahead of the real one until the leap second.
    start = time.time_ns() // NS + 5
    fake_minus_real = NAMES[0] - start
    spec = ctx.path(f"{tag}.faketime")

    def set_offset(seconds):
        # Replaced whole: a clock read must never see a half-written spec.
        temporary = ctx.path(f"{tag}.faketime.new")
        temporary.write_text(f"{seconds:+d}\n")
        os.replace(temporary, spec)

    set_offset(fake_minus_real)
    leap_switched = []

    def plan(p):
        index = p.boundary - start
        if index < 0 or index >= len(NAMES):
            p.silent = True
            return
        name = NAMES[index]
        p.label = name_text(name)
        if name == LEAP:
            p.leap_second = True
            p.shift = (NEW_YEAR - 1) - p.boundary
            if scheduled:
                # The kernel inserts the second: its clock reads 23:59:59
                # again. Done before the cycle's first byte is written.
                set_offset(fake_minus_real - 1)
                leap_switched.append(time.time_ns())
        else:
            p.shift = name - p.boundary

    receiver.fault = plan
    env = dict(os.environ, LD_PRELOAD=harness.preload(daemon_binary, lib),
               FAKETIME_TIMESTAMP_FILE=str(spec), FAKETIME_NO_CACHE="1",
               FAKETIME_DONT_FAKE_MONOTONIC="1")
    watcher = fr.SegmentWatcher(UNIT, interval=0.01)
    readings = []  # (name, Sample read after its cycle)
    with receiver:
        proc = ctx.start(f"daemon-{tag}", [daemon_binary, "-c", conf],
                         env=env)
        receiver.wait_opened(4)
        check(time.time() < start - 0.3,
              f"the daemon opened the device too late for the first cycle "
              f"at {start}")
        harness.wait_for_segment(UNIT, 2, watch=[proc])
        watcher.start()
        reader = harness.ShmReader(UNIT)
        try:
            for index, name in enumerate(NAMES):
                harness.wait_until(lambda: len(receiver.cycles) > index,
                                   start + index - time.time() + 3,
                                   f"cycle {index} to be written",
                                   interval=0.01, watch=[proc])
                record = receiver.cycles[index]
                check(record.delivered and record.dropped == 0,
                      f"cycle {index} was not delivered whole: {record}")
                stall = harness.machine_stall(
                    record.first_write_ns, record.end_ns + fr.QUIET_GAP_NS,
                    longer_than_ns=LATE_NS)
                if record.max_late_ns > LATE_NS or stall:
                    raise WriterStalled(
                        f"cycle {index}: written "
                        f"{record.max_late_ns / 1e6:.1f} ms late" +
                        (f", {harness.stall_text(stall)}" if stall else ""))
                # The daemon publishes when the line has been quiet for a
                # batch period (25 ms) after the last byte.
                fr.sleep_until(record.end_ns + 200_000_000)
                sample = reader.read()
                readings.append((name, sample))
                log(f"{case}: after {name_text(name)}: valid {sample.valid} "
                    f"clock {sample.clock_sec}.{sample.clock_nsec:09d} "
                    f"receive {sample.receive_sec}.{sample.receive_nsec:09d}"
                    f" leap {sample.leap}")
        finally:
            reader.close()
            watcher.stop()
            exit_status = proc.stop()
    text = proc.output()
    log(f"{case}: daemon exit status {exit_status}")
    datagrams = []
    sock.setblocking(False)
    while True:
        try:
            datagrams.append(sock.recv(256))
        except BlockingIOError:
            break
    sock.close()

    failures = []
    if exit_status != 0:
        failures.append(f"the daemon exited with {exit_status} on SIGTERM")
    if scheduled:
        # Every second after the first min-fixes - 1 but 23:59:60.
        published = [n for n in NAMES[MIN_FIXES - 1:] if n != LEAP]
    else:
        # 23:59:60 refused, 00:00:00 a -1 s step from the believed
        # timeline: a new timeline, on probation (issue 18; it used to be
        # published again after min-fixes cycles, one second off).
        published = [n for n in NAMES[MIN_FIXES - 1:] if n != LEAP and
                     n < NEW_YEAR]
    expected_leap = {n: 1 if scheduled and n < NEW_YEAR else 0
                     for n in published}

    # Read after each cycle: the cycle's own sample, or the last one.
    last_key = None
    for index, (name, sample) in enumerate(readings):
        if name in published:
            if sample.valid != 1 or sample.clock_ns != name * NS:
                failures.append(f"after {name_text(name)}: expected its "
                                f"sample, read {sample}")
                continue
            if sample.leap != expected_leap[name]:
                failures.append(f"after {name_text(name)}: leap "
                                f"{sample.leap}, expected "
                                f"{expected_leap[name]}")
            # The receive stamp is the daemon's clock at the first byte:
            # the receiver's delay after the second it names (clock only
            # faked within ms; a second off is 1 s). After an invented leap
            # the receiver names seconds one behind the daemon's clock.
            behind = 0 if scheduled or name < NEW_YEAR else NS
            late = sample.receive_ns - sample.clock_ns - behind
            if abs(late - DELAY * NS) > 50_000_000:
                failures.append(f"after {name_text(name)}: receive - clock "
                                f"is {(late + behind) / 1e9:+.3f} s, "
                                f"expected {DELAY:+.3f}: {sample}")
            last_key = sample.key()
        elif index < MIN_FIXES - 1:
            if sample.valid != 0:
                failures.append(f"after {name_text(name)} (acquiring): a "
                                f"valid sample {sample}")
        elif sample.valid == 1 and sample.key() != last_key:
            failures.append(f"after {name_text(name)} (not to be "
                            f"published): a new sample {sample}")

    # Everything the segment ever held, read every 10 ms.
    observations, valid_changes = watcher.snapshot()
    seen = [o.sample.clock_ns / NS for o in observations]
    if seen != published:
        failures.append("SHM published "
                        f"{[name_text(int(s)) for s in seen]}, expected "
                        f"{[name_text(n) for n in published]}")
    for observation in observations:
        sample = observation.sample
        second = sample.clock_sec
        if second in expected_leap and sample.leap != expected_leap[second]:
            failures.append(f"SHM leap {sample.leap} at "
                            f"{name_text(second)}")
    log(f"{case}: valid changes (realtime ns, valid): {valid_changes}")
    if scheduled:
        # Once published, the sample stays out through the leap second:
        # 23:59:60 keeps 23:59:59's alive until 00:00:00 replaces it.
        first = next((i for i, (_, v) in enumerate(valid_changes) if v == 1),
                     None)
        if first is None or any(v == 0 for _, v in valid_changes[first:]):
            failures.append("valid went to 0 around the leap second: "
                            f"{valid_changes}")

    # The SOCK datagrams: tv is the receive time, offset reference - receive.
    sock_seconds, sock_leaps = [], {}
    for raw in datagrams:
        if len(raw) != struct.calcsize(SOCK_FORMAT):
            failures.append(f"SOCK datagram of {len(raw)} bytes")
            continue
        sec, usec, offset, pulse, leap, _, magic = struct.unpack(SOCK_FORMAT,
                                                                 raw)
        reference = sec + usec / 1e6 + offset
        if magic != SOCK_MAGIC or pulse != 0 or abs(
                reference - round(reference)) > 1e-5:
            failures.append(f"SOCK datagram tv {sec}.{usec:06d} offset "
                            f"{offset} pulse {pulse} magic {magic:#x}")
            continue
        sock_seconds.append(round(reference))
        sock_leaps[round(reference)] = leap
    if sock_seconds != published:
        failures.append("SOCK published "
                        f"{[name_text(s) for s in sock_seconds]}, expected "
                        f"{[name_text(n) for n in published]}")
    for second, leap in sock_leaps.items():
        if second in expected_leap and leap != expected_leap[second]:
            failures.append(f"SOCK leap {leap} at {name_text(second)}")

    # The daemon also compares the list with the real kernel's STA_INS,
    # which no test may set on this machine: that disagreement is logged as
    # a warning and is not what this test judges; nor is the control
    # socket's directory (/run/shmrefclock), absent outside systemd.
    warnings = [line for line in text.splitlines()
                if (" warning " in line or " warn " in line)
                and "kernel leap state" not in line
                and "control socket" not in line]
    if scheduled:
        if "leap second 2026-12-31T23:59:60Z not published" not in text:
            failures.append("no log line for the unpublished 23:59:60")
        if warnings:
            failures.append(f"warnings around a scheduled leap: {warnings}")
    else:
        if not any("23:59:60" in w and "does not schedule" in w
                   for w in warnings):
            failures.append(f"no warning about the invented 23:59:60: "
                            f"{warnings}")
    reports = fr.sanitizer_reports(text)
    if reports:
        failures.append(f"sanitizer: {reports}")
    if failures:
        raise Fail(f"{case}: " + "; ".join(failures) +
                   f"\n--- daemon log:\n{text}")
    log(f"{case}: published {[name_text(n) for n in published]} in SHM and "
        "SOCK, as expected")


def body(ctx):
    cases = sys.argv[1:] or ["scheduled", "invented"]
    for case in cases:
        # A stall of this process's writer under load is not the daemon's
        # doing (WriterStalled): the run is repeated, a
        # few times at most, and a stall every time fails the test.
        for attempt in range(1, ATTEMPTS + 1):
            try:
                scenario(ctx, case, attempt)
                break
            except WriterStalled as stall:
                log(f"{case}: attempt {attempt}: the fake receiver stalled "
                    f"in {stall}")
        else:
            raise Fail(f"{case}: the fake receiver stalled in each of "
                       f"{ATTEMPTS} attempts")


if __name__ == "__main__":
    harness.main("nmea_leap", body, timeout=170)
