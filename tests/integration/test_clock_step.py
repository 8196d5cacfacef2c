#!/usr/bin/python3
"""Clock steps between an NMEA cycle and a pulse (issue 8, Done-when 4),
end to end with the unmodified daemon.

A fake receiver on a pty sends one NMEA cycle a second; the PPS emulator
(tests/pps-emulator) puts a pulse on every true second + EDGE; a pps
refclock is locked to the nmea one. The clock emulator
(tests/clock-emulator) gives the daemon a CLOCK_REALTIME of its own, which
this test steps by rewriting realtime_offset_ns in its state file; the
daemon's cancel-on-set timerfd sees each step as it would see chronyd's
makestep. The machine's clock is never touched. The pulses stay on the
true seconds and are stamped with the daemon's (stepped) clock, as a
kernel stamps them.

Each step falls between an NMEA cycle and the next pulse (0.75 s after a
true second), the moment where carrying the NMEA sample across the step
numbers the pulse by the NMEA time + the step: for a step near +-0.5 s one
direction rounds to the wrong second and lands inside the 0.4 s lock
window. Usage: test_clock_step.py CASE, one case per meson test:

  nmea-late   the cycle's first byte 100 ms after the second, pulses on
              the second (+20 us): the negative steps are the fragile ones
              (-0.55 s would number pulse N+1 as N).
  pulse-late  the cycle on the second, pulses 150 ms after it (a long
              cable, uncalibrated): the positive steps are the fragile ones
              (+0.5 s would number pulse N+1 as N+2).

Both step by +0.5, -0.5, +0.45, -0.45, +0.55, -0.55 s (the daemon's clock
is 0, 0.5, 0, 0.45, 0, 0.55, 0 s ahead of the true time in turn). After
every step: no published pulse or NMEA sample names a second other than
the true one (the receiver's record and the emulator's rules, not the
daemon's output, say which); the log names the step with its size; both
refclocks publish again.
"""

import os
import re
import sys
import time

import fake_receiver
import harness
from fake_receiver import NS, FakeReceiver, SegmentWatcher, toml_string
from harness import Fail, check, log
from test_pps import emulator_library
from test_witness import clock_emulator

NMEA_UNIT = 0
PPS_UNIT = 1
MIN_FIXES = 2
STEPS_NS = [500_000_000, -500_000_000, 450_000_000, -450_000_000,
            550_000_000, -550_000_000]
STEP_AT_NS = 750_000_000   # after a true second: between a cycle and a pulse
RESUME_TIMEOUT_S = 12
KERNEL = "status=STA_UNSYNC maxerror=16000000 esterror=16000000\n"

# case: (receiver delay s, pulse edge after the true second in ns)
CASES = {
    "nmea-late": (0.1, 20_000),
    "pulse-late": (0.0, 150_000_000),
}


class Schedule:
    """The daemon's clock offset from the true time, as this test set it:
    (true ns when the state file was renamed over, offset ns)."""

    def __init__(self, path):
        self.path = path
        self.changes = [(0, 0)]
        self.write(0)

    def write(self, offset_ns):
        temporary = str(self.path) + ".new"
        with open(temporary, "w", encoding="ascii") as f:
            f.write(KERNEL + f"realtime_offset_ns={offset_ns}\n")
        os.rename(temporary, self.path)
        self.changes.append((fake_receiver.realtime_ns(), offset_ns))

    def at(self, true_ns):
        offset = 0
        for when, value in self.changes:
            if when <= true_ns:
                offset = value
        return offset

    def offsets(self):
        return sorted({value for _, value in self.changes})


def true_second_of_pulse(sample, schedule, edge_ns):
    """The true second whose pulse has this receive time, or None: the
    stamp is edge + the offset in force at the edge, for exactly one of the
    offsets used (they differ by fractions of a second)."""
    found = []
    for offset in schedule.offsets():
        second, rest = divmod(sample.receive_ns - offset - edge_ns, NS)
        if rest == 0 and schedule.at(second * NS + edge_ns) == offset:
            found.append(second)
    return found[0] if len(found) == 1 else None


def body(ctx):
    case = os.environ["CLOCK_STEP_CASE"]
    delay, edge_ns = CASES[case]
    daemon_path = harness.daemon_binary()
    schedule = Schedule(ctx.path("kernel-clock"))
    env = dict(os.environ,
               LD_PRELOAD=harness.preload(daemon_path, clock_emulator(),
                                          emulator_library()),
               SHMREFCLOCK_CLOCK_FILE=str(ctx.path("kernel-clock")),
               SHMREFCLOCK_PPS_EMULATE="/dev/pps0",
               SHMREFCLOCK_PPS_OFFSET_NS=str(edge_ns),
               SHMREFCLOCK_PPS_TRACE=str(ctx.path("pps.trace")))
    env.pop("WATCHDOG_USEC", None)
    env.pop("NOTIFY_SOCKET", None)

    receiver = FakeReceiver(ctx.tmp, "gnss0", delay=delay).start()
    nmea = SegmentWatcher(NMEA_UNIT).start()
    pps = SegmentWatcher(PPS_UNIT).start()
    steps = []  # (true ns of the step, step ns)
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "baud": 9600,
             "unit": NMEA_UNIT, "offset": "0.0", "min-fixes": MIN_FIXES},
            {"name": '"pps"', "source": '"pps"', "device": '"/dev/pps0"',
             "lock": '"gps"', "unit": PPS_UNIT}], name=case)
        daemon = ctx.start("shmrefclock", [daemon_path, "-c", config],
                           env=env)
        harness.wait_until(lambda: pps.first_sample_after(0), 20,
                           "the first pulse sample", watch=[daemon])
        offset = 0
        for step in STEPS_NS:
            now = fake_receiver.realtime_ns()
            at = (now // NS + 1) * NS + STEP_AT_NS
            fake_receiver.sleep_until(at)
            offset += step
            schedule.write(offset)
            stepped = fake_receiver.realtime_ns()
            steps.append((stepped, step))
            log(f"stepped by {step / NS:+.2f} s at true "
                f"{stepped / NS:.3f} (daemon's clock {offset / NS:+.2f} s)")
            # Both refclocks publish again: a pulse whose edge is after the
            # step, an NMEA sample received after it (on the new scale).
            harness.wait_until(
                lambda: pps.first_sample_after(stepped + offset),
                RESUME_TIMEOUT_S, f"a pulse after the {step / NS:+.2f} s step",
                watch=[daemon])
            harness.wait_until(
                lambda: nmea.first_sample_after(stepped + offset),
                RESUME_TIMEOUT_S,
                f"an NMEA sample after the {step / NS:+.2f} s step",
                watch=[daemon])
        time.sleep(1.2)  # the last pulse read
        check(daemon.running(), f"the daemon exited with {daemon.poll()}")
        daemon.stop()
        output = daemon.output()
    finally:
        pps.stop()
        nmea.stop()
        receiver.stop()

    failures = []
    reports = fake_receiver.sanitizer_reports(output)
    check(not reports, f"sanitizer or crash output: {reports[:5]}")

    # Every published pulse is numbered with its true second.
    pulses, _ = pps.snapshot()
    for observation in pulses:
        sample = observation.sample
        second = true_second_of_pulse(sample, schedule, edge_ns)
        if second is None:
            failures.append(f"pulse sample {sample}: its receive time is no "
                            "emulated edge")
        elif sample.clock_ns != second * NS:
            failures.append(f"pulse of true second {second} published as "
                            f"{sample.clock_ns / NS:.9f} "
                            f"({(sample.clock_ns - second * NS) / NS:+.0f} s "
                            f"off): {sample}")

    # Every NMEA sample names the true second of its cycle: its receive
    # stamp, less the offset in force then, is the cycle's first byte.
    samples, _ = nmea.snapshot()
    for observation in samples:
        sample = observation.sample
        records = []
        for offset in schedule.offsets():
            received = sample.receive_ns - offset
            record = receiver.record_for(received + 50_000_000)
            if record is not None and schedule.at(received) == offset and \
                    abs(received - record.first_write_ns) < 50_000_000:
                records.append(record)
        if len(records) != 1:
            failures.append(f"NMEA sample {sample}: {len(records)} cycles "
                            "written then")
        elif sample.clock_ns != records[0].boundary * NS:
            failures.append(f"NMEA sample {sample} names "
                            f"{sample.clock_ns / NS:.3f}, its cycle's true "
                            f"second is {records[0].boundary}")

    # The log names each step, with its size.
    logged = [round(float(m.group(1)) * NS) for m in re.finditer(
        r"the system clock was stepped by ([+-]\d+\.\d+) s", output)]
    want = [step for _, step in steps]
    if len(logged) != len(want) or any(
            abs(a - b) > 1_000_000 for a, b in zip(logged, want)):
        failures.append(f"steps logged {logged}, made {want}")

    # Around each step: which pulses were published.
    for stepped, step in steps:
        around = []
        for observation in pulses:
            second = true_second_of_pulse(observation.sample, schedule,
                                          edge_ns)
            if second is not None and \
                    stepped - 2 * NS < second * NS < stepped + 4 * NS:
                around.append(second - stepped // NS)
        log(f"step {step / NS:+.2f} s: pulses published at step second "
            f"{around}")

    log(f"{case}: {len(pulses)} pulse samples, {len(samples)} NMEA samples, "
        f"{len(logged)} steps logged")
    for failure in failures[:10]:
        log(f"FAIL: {failure}")
    if failures:
        raise Fail(f"{len(failures)} failure(s), first: {failures[0]}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CASES)}")
    os.environ["CLOCK_STEP_CASE"] = sys.argv[1]
    harness.main("clock-step-" + sys.argv[1], body, timeout=110)
