#!/usr/bin/python3
"""A fake u-blox receiver on a pty, with the PPS emulator (issue 21,
Done-when 2).

The fake writes, 50 ms after each true second S, at 115200 Bd: TIM-TP naming
the next pulse (S + 1, UTC time base, UTC available) with a qErr that
changes every second, then NAV-TIMEUTC for S (validTOW, validWKN, validUTC)
-- and with `mixed` its NMEA RMC and GGA for S after them. The PPS emulator
puts an assert edge on /dev/pps0 EDGE_NS after each true second. The daemon
reads the fake as an nmea refclock (unit 0) and numbers the pulses with a
pps refclock locked to it (unit 1, and chrony's SOCK); chronyd -x reads
both units and the socket.

Asserted:
- the pps unit publishes pulses numbered by the TIM-TP before them
  (`pulses_labelled` counts them), each at the edge + qErr: receive = S +
  EDGE_NS + round(qErr(S) / 1000) ns exactly, reference S;
- chronyd's refclocks.log has the PPS samples from SHM and from SOCK, each
  within 1 us of reference - receive = -EDGE_NS;
- the gps unit publishes the seconds the fake named;
- then the fake clears validUTC (a receiver restarted): from that epoch on
  the gps unit publishes no second, its sample is withdrawn within the
  epoch, and the pps unit numbers no pulse after it: none for S0 + 1 or
  later, where S0 is the first epoch without validUTC (the pulse of S0
  itself came before the epoch and is the receiver's, labelled the second
  before).

Case `timels`: see body_timels.
"""

import struct
import sys
import time

import chrony
import fake_receiver
import harness
import test_pps
from fake_receiver import NS, FakeReceiver, SegmentWatcher, toml_string
from harness import Fail, check, log
from test_control import ask

EDGE_NS = 20_000
GPS_EPOCH = 315964800  # 1980-01-06T00:00:00Z
WEEK = 604800
PUBLISHED_BEFORE_CLEARING = 10


def frame(message_class, message_id, payload):
    """A UBX frame, its checksum computed here (u-blox: 8-bit Fletcher over
    class, id, length and payload)."""
    body = bytes([message_class, message_id]) + struct.pack("<H", len(payload)) + payload
    a = b = 0
    for byte in body:
        a = (a + byte) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes([a, b])


def q_err_ps(second):
    """The fake's qErr for the pulse of `second`: -10.03 .. +10.03 ns, a
    value that needs rounding to the ns."""
    return (second % 21 - 10) * 1003


def round_ps_to_ns(ps):
    """The daemon's rounding (half away from zero), for the expected value."""
    return (ps + 500) // 1000 if ps >= 0 else -((-ps + 500) // 1000)


def tim_tp(pulse):
    """TIM-TP (0x0D 0x01): towMS, towSubMS, qErr, week, flags (UTC time
    base 0x01, UTC available 0x02), refInfo (GPS)."""
    since = pulse - GPS_EPOCH
    return frame(0x0D, 0x01, struct.pack("<IIiHBB", since % WEEK * 1000, 0,
                                         q_err_ps(pulse), since // WEEK, 0x03,
                                         0x00))


def nav_timeutc(second, valid_utc):
    """NAV-TIMEUTC (0x01 0x21): iTOW, tAcc, nano, year .. sec, valid."""
    t = time.gmtime(second)
    itow = (second - GPS_EPOCH + 18) % WEEK * 1000
    valid = 0x07 if valid_utc else 0x03
    return frame(0x01, 0x21, struct.pack(
        "<IIiHBBBBBB", itow, 20, 321_000, t.tm_year, t.tm_mon, t.tm_mday,
        t.tm_hour, t.tm_min, t.tm_sec, valid))


def nav_timels(second, event):
    """NAV-TIMELS (0x01 0x26), version 0: the current count 18 from GPS,
    and +1 at `event` (the 00:00:00 after the leap), timeToLsEvent counted
    from `second`; validCurrLs and validTimeToLsEvent."""
    itow = (second - GPS_EPOCH + 18) % WEEK * 1000
    return frame(0x01, 0x26, struct.pack(
        "<IB3xBbBbiHH3xB", itow, 0, 2, 18, 2, 1, event - second, 0, 0, 0x03))


class FakeUblox(FakeReceiver):
    """The fake receiver speaking UBX (and NMEA with `mixed`). A cycle
    planned with label "no-utc" clears validUTC; with `leap_event` each
    epoch carries NAV-TIMELS announcing +1 then."""

    def __init__(self, directory, mixed, leap_event=None):
        super().__init__(directory, "ublox0", baud=115200, delay=0.05)
        self.mixed = mixed
        self.leap_event = leap_event
        self.clear_from = None  # first plan index without validUTC

    def _render(self, plan):
        valid_utc = self.clear_from is None or plan.index < self.clear_from
        if not valid_utc:
            plan.label = "no-utc"
        data = tim_tp(plan.reported + 1) + nav_timeutc(plan.reported, valid_utc)
        if self.leap_event is not None:
            data += nav_timels(plan.reported, self.leap_event)
        if self.mixed:
            data += fake_receiver.cycle_sentences(plan.reported)
        return data


def counters(control, name):
    doc = ask(control)
    for refclock in doc["refclocks"]:
        if refclock["name"] == name:
            return refclock["counters"]
    raise Fail(f"no refclock {name} in the live state")


def body(ctx, mixed):
    daemon = harness.daemon_binary()
    library = test_pps.emulator_library()
    sock = ctx.path("pps.sock")
    chronyd = chrony.Chronyd(ctx, [
        "refclock SHM 0 refid GPS noselect",
        f"refclock SHM 1 {chrony.FAST} refid PPS",
        f"refclock SOCK {sock} {chrony.FAST} refid PPSS noselect"])
    chronyd_proc = chronyd.start()

    receiver = FakeUblox(ctx.tmp, mixed).start()
    control = ctx.path("control")
    gps = SegmentWatcher(0)
    pps = SegmentWatcher(1)
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "baud": 115200,
             "unit": 0, "min-fixes": 2},
            {"name": '"pps"', "source": '"pps"', "device": '"/dev/pps0"',
             "lock": '"gps"', "unit": 1, "sock": toml_string(str(sock))}],
            name="ubx")
        config.write_text(config.read_text().replace(
            "[daemon]\n", f'[daemon]\ncontrol = "{control}"\n', 1))
        env = test_pps.emulator_env(daemon, library, ctx.path("pps.trace"),
                                    offset_ns=EDGE_NS)
        proc = ctx.start("shmrefclock", [daemon, "-c", config], env=env)
        gps.start()
        pps.start()

        def pulses():
            return len(pps.snapshot()[0])
        harness.wait_until(lambda: pulses() >= PUBLISHED_BEFORE_CLEARING, 40,
                           f"{PUBLISHED_BEFORE_CLEARING} pulses on unit 1",
                           watch=[proc, chronyd_proc])
        labelled = counters(control, "pps")["pulses_labelled"]
        # Clear validUTC from the next cycle the writer plans.
        with receiver._lock:
            receiver.clear_from = receiver._planned + 1
        harness.wait_until(
            lambda: sum(r.label == "no-utc" for r in receiver.cycles) >= 4, 15,
            "4 cycles without validUTC", watch=[proc])
        pps_counters = counters(control, "pps")
        gps_counters = counters(control, "gps")
        proc.stop()
        output = proc.output()
    finally:
        gps.stop()
        pps.stop()
        receiver.stop()
    chronyd_proc.stop()

    reports = fake_receiver.sanitizer_reports(output)
    check(not reports, f"sanitizer or crash output: {reports[:5]}")
    failures = []
    cleared = [r for r in receiver.cycles if r.label == "no-utc"]
    first_cleared = cleared[0]
    s0 = first_cleared.boundary
    log(f"validUTC cleared from the cycle of {s0} (written at "
        f"{first_cleared.first_write_ns / NS:.3f})")

    # The pulses: numbered by TIM-TP, corrected by qErr, none after S0.
    pps_samples, _ = pps.snapshot()
    log(f"pps unit: {len(pps_samples)} samples; pulses_labelled "
        f"{labelled} before clearing, counters at the end {pps_counters}")
    for observation in pps_samples:
        sample = observation.sample
        second, nsec = divmod(sample.clock_ns, NS)
        if nsec != 0:
            failures.append(f"pps sample reference {sample.clock_ns} is not "
                            "a whole second")
            continue
        if second > s0:
            failures.append(f"pps published {second}, after the receiver "
                            f"cleared validUTC at {s0}")
        expected = second * NS + EDGE_NS + round_ps_to_ns(q_err_ps(second))
        if sample.receive_ns != expected:
            failures.append(f"pps {second}: receive {sample.receive_ns}, "
                            f"expected edge + qErr {expected} "
                            f"(qErr {q_err_ps(second)} ps)")
    if labelled < PUBLISHED_BEFORE_CLEARING - 1:
        failures.append(f"pulses_labelled {labelled}, expected at least "
                        f"{PUBLISHED_BEFORE_CLEARING - 1}")
    if pps_counters["pulses_q_err_applied"] < labelled:
        failures.append(f"pulses_q_err_applied "
                        f"{pps_counters['pulses_q_err_applied']} < labelled "
                        f"{labelled}")

    # The NMEA unit: the fake's seconds, none from S0 on, withdrawn in
    # the epoch of S0.
    gps_samples, _ = gps.snapshot()
    seconds = [o.sample.clock_ns // NS for o in gps_samples]
    log(f"gps unit: {len(seconds)} samples, {seconds[:3]} .. {seconds[-3:]}")
    for observation in gps_samples:
        record = receiver.record_reporting(observation.sample.clock_ns)
        if record is None:
            failures.append(f"gps published {observation.sample.clock_ns}, "
                            "which the fake never named")
        elif record.label == "no-utc":
            failures.append(f"gps published {record.reported} from a cycle "
                            "without validUTC")
    # Withdrawn by the cycle without validUTC, not by staleness 2 s later
    # (the segment's valid flag cannot tell: chronyd clears it as it reads;
    # the unit test test_ubx_epoch times the withdrawal in the replay).
    if "gps: the receiver no longer knows the leap-second count: sample " \
            "withdrawn" not in output:
        failures.append("the gps sample was not withdrawn by the cycle "
                        "without validUTC")
    if gps_counters["withdrawals"] < 1:
        failures.append(f"gps withdrawals {gps_counters['withdrawals']}")
    if gps_counters["cycles"]["leap_unknown"] < 3:
        failures.append(f"cycles leap_unknown {gps_counters['cycles']}")
    if "leap-second count not yet known to the receiver" not in output:
        failures.append("no log line for the unknown leap-second count")
    if mixed and gps_counters["sentences"]["time_bearing"] == 0:
        failures.append("mixed: no NMEA sentence read")

    # chronyd's view: the PPS samples from SHM and from SOCK.
    for refid in ("PPS", "PPSS"):
        raw = chrony.refclock_raw_offsets(ctx.path("refclocks.log"), refid)
        log(f"chrony {refid}: {len(raw)} raw offsets "
            f"{[round(x * 1e6, 3) for x in raw[:5]]} us ...")
        if len(raw) < 3:
            failures.append(f"chrony {refid}: {len(raw)} samples")
        bad = [x for x in raw if abs(x + EDGE_NS / NS) > 1e-6]
        if bad:
            failures.append(f"chrony {refid}: offsets not -20 us: {bad[:5]}")

    for failure in failures:
        log(f"FAIL: {failure}")
    if failures:
        raise Fail(f"{len(failures)} failure(s), first: {failures[0]}")


# Case `timels`: the receiver names 2026-12-30 23:59:52 onwards (shifted
# from the true second; no witness, the kernel unsynchronized) and
# announces +1 at 2027-01-01 00:00:00 in NAV-TIMELS; the daemon has no
# leap-second list (leap-seconds = ""), so the receiver's announcement
# counts. Every sample of unit 0 and of the pps unit 1 that names December
# 31 carries leap 1 (insert), every one that names December 30 leap 0.
DEC_30_LATE = 1798675192   # 2026-12-30T23:59:52Z
DEC_31 = 1798675200        # 2026-12-31T00:00:00Z
JAN_1 = 1798761600         # 2027-01-01T00:00:00Z


def body_timels(ctx):
    daemon = harness.daemon_binary()
    library = test_pps.emulator_library()
    receiver = FakeUblox(ctx.tmp, False, leap_event=JAN_1)
    first_boundary = fake_receiver.realtime_ns() // NS + 1
    shift = DEC_30_LATE - first_boundary

    def shifted(plan):
        plan.shift = shift
    receiver.fault = shifted
    receiver.start()
    gps = SegmentWatcher(0)
    pps = SegmentWatcher(1)
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "baud": 115200,
             "unit": 0, "min-fixes": 2},
            {"name": '"pps"', "source": '"pps"', "device": '"/dev/pps0"',
             "lock": '"gps"', "unit": 1}], name="ubx")
        config.write_text(config.read_text().replace(
            "[daemon]\n", '[daemon]\nleap-seconds = ""\n', 1))
        env = test_pps.emulator_env(daemon, library, ctx.path("pps.trace"),
                                    offset_ns=EDGE_NS)
        proc = ctx.start("shmrefclock", [daemon, "-c", config], env=env)
        gps.start()
        pps.start()

        def after_midnight(watcher):
            return sum(o.sample.clock_ns // NS >= DEC_31 + 2
                       for o in watcher.snapshot()[0])
        harness.wait_until(lambda: after_midnight(gps) >= 2 and
                           after_midnight(pps) >= 2, 40,
                           "samples of 2026-12-31 on both units",
                           watch=[proc])
        proc.stop()
        output = proc.output()
    finally:
        gps.stop()
        pps.stop()
        receiver.stop()
    reports = fake_receiver.sanitizer_reports(output)
    check(not reports, f"sanitizer or crash output: {reports[:5]}")
    failures = []
    for unit, watcher in ((0, gps), (1, pps)):
        samples, _ = watcher.snapshot()
        seen = [(o.sample.clock_ns // NS, o.sample.leap) for o in samples]
        log(f"unit {unit}: (second, leap) {seen}")
        if not any(second < DEC_31 for second, _ in seen):
            failures.append(f"unit {unit}: no sample of December 30")
        for second, leap in seen:
            expected = 1 if DEC_31 <= second < JAN_1 else 0
            if leap != expected:
                failures.append(f"unit {unit}: {second} has leap {leap}, "
                                f"expected {expected}")
    if "following the receiver's announcement of leap 1" not in output:
        failures.append("the daemon did not log that it follows the "
                        "receiver's announcement")
    for failure in failures:
        log(f"FAIL: {failure}")
    if failures:
        raise Fail(f"{len(failures)} failure(s), first: {failures[0]}")


if __name__ == "__main__":
    variant = sys.argv[1] if len(sys.argv) > 1 else "ubx"
    if variant not in ("ubx", "mixed", "timels"):
        raise SystemExit(f"usage: {sys.argv[0]} ubx|mixed|timels")
    if variant == "timels":
        harness.main("ubx_timels", body_timels, timeout=100)
    else:
        harness.main(f"ubx_{variant}",
                     lambda ctx: body(ctx, variant == "mixed"), timeout=100)
