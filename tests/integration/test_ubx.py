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
both units and the socket. chronyd reads unit 1 every other second
(dpoll 1): it clears a segment's `valid` as it reads it, and the test's own
reader of the unit, polling beside it, sees only the pulses it reaches
first; at dpoll 0 that was, in CI, fewer than 10 in 40 s when chronyd's
reads fell just after the edges. Every other pulse stays valid for the
test until the next one.

Asserted:
- the pps unit publishes pulses numbered by the TIM-TP before them
  (`pulses_labelled` counts them), each at the edge + qErr: receive = S +
  EDGE_NS + round(qErr(S) / 1000) ns exactly, reference S;
- chronyd's refclocks.log has the PPS samples from SHM and from SOCK, each
  within 1 us of reference - receive = -EDGE_NS;
- the gps unit publishes the seconds the fake named;
- the fake's tAcc (50 us) sets the pulses' precision (-14), not the gps
  unit's (-1 configured, coarser); the live state shows the receiver's
  health (leap count known, tAcc, TIM-TP's pulse locked, RAIM active);
- then three TIM-TPs say TpNotLocked: the pulses they label are withheld
  (`pulses{verdict="not_locked"}`), and pulses come again after them;
- then the fake clears validUTC (a receiver restarted): from that epoch on
  the gps unit publishes no second, its sample is withdrawn within the
  epoch, and the pps unit numbers no pulse after it: none for S0 + 1 or
  later, where S0 is the first epoch without validUTC (the pulse of S0
  itself came before the epoch and is the receiver's, labelled the second
  before).

Case `timels`: see body_timels.
"""

import calendar
import os
import re
import struct
import sys
import threading
import time

import chrony
import fake_receiver
import harness
import test_pps
import ubx_frames
from fake_receiver import NS, FakeReceiver, SegmentWatcher, toml_string
from harness import Fail, check, log
from ubx_frames import GPS_EPOCH, WEEK, frame
from test_control import ask, run_status

EDGE_NS = 20_000
PUBLISHED_BEFORE_CLEARING = 10
UNLOCKED_CYCLES = 3


def q_err_ps(second):
    """The fake's qErr for the pulse of `second`: -10.03 .. +10.03 ns, a
    value that needs rounding to the ns."""
    return (second % 21 - 10) * 1003


def round_ps_to_ns(ps):
    """The daemon's rounding (half away from zero), for the expected value."""
    return (ps + 500) // 1000 if ps >= 0 else -((-ps + 500) // 1000)


def tim_tp(pulse, locked=True):
    """TIM-TP for the pulse of `pulse`, with the fake's qErr for it."""
    return ubx_frames.tim_tp(pulse, q_err_ps(pulse), locked)


# The fake's tAcc: 50 us, coarser than a pps refclock's default precision
# (-20, 0.95 us): its pulses are published with precision -14, the
# smallest power of two seconds not below 50 us (2^-15 s = 30.5 us,
# 2^-14 s = 61.0 us). The gps unit keeps its configured -1.
T_ACC_NS = 50_000
PPS_PRECISION_FOR_T_ACC = -14


def nav_timeutc(second, valid_utc):
    return ubx_frames.nav_timeutc(second, valid_utc, T_ACC_NS)


def nav_timels(second, event):
    """NAV-TIMELS (0x01 0x26), version 0: the current count 18 from GPS,
    and +1 at `event` (the 00:00:00 after the leap), timeToLsEvent counted
    from `second`; validCurrLs and validTimeToLsEvent."""
    itow = (second - GPS_EPOCH + 18) % WEEK * 1000
    return frame(0x01, 0x26, struct.pack(
        "<IB3xBbBbiHH3xB", itow, 0, 2, 18, 2, 1, event - second, 0, 0, 0x03))


def mon_ver(protocol):
    """MON-VER (0x0A 0x04): swVersion char[30], hwVersion char[10], then
    char[30] extensions."""
    def field(text, size):
        return text.encode().ljust(size, b"\0")
    return frame(0x0A, 0x04, field("ROM SPG 5.10 (7b202e)", 30) +
                 field("00190000", 10) + field("FWVER=TIM 2.20", 30) +
                 field(f"PROTVER={protocol}", 30))


# CFG-TP5 of a receiver whose owner set a cable delay of 50 ns, 1 Hz and
# 100 ms pulses, and left the pulse on the GPS grid, not aligned to the time
# of week (M8 interface description): tpIdx 0, version 1, antCableDelay,
# rfGroupDelay, freqPeriod, freqPeriodLock, pulseLenRatio,
# pulseLenRatioLock, userConfigDelay, flags active | lockGnssFreq |
# isLength | polarity | gridUtcGnss 1 (GPS).
TP5_FLAGS = 0x01 | 0x02 | 0x10 | 0x40 | 0x80
TP5_POLLED = struct.pack("<BB2xhhIIIIiI", 0, 1, 50, 0, 1_000_000, 1_000_000,
                         100_000, 100_000, 0, TP5_FLAGS)
# The same sent back aligned to the UTC second: alignToTow (0x20) set,
# gridUtcGnss (bits 7-10) 0, the rest as it was.
TP5_ALIGNED = TP5_POLLED[:28] + struct.pack("<I", (TP5_FLAGS | 0x20) & ~0x780)


def split_frames(data):
    """The whole UBX frames in `data`, and the rest (an incomplete one)."""
    frames = []
    while True:
        start = data.find(b"\xb5\x62")
        if start < 0 or len(data) < start + 6:
            return frames, data[start:] if start >= 0 else b""
        length = struct.unpack_from("<H", data, start + 4)[0]
        end = start + 6 + length + 2
        if len(data) < end:
            return frames, data[start:]
        frames.append(data[start + 2:end - 2])  # class, id, length, payload
        data = data[end:]


class FakeUblox(FakeReceiver):
    """The fake receiver speaking UBX (and NMEA with `mixed`). A cycle
    planned with label "no-utc" clears validUTC; with `leap_event` each
    epoch carries NAV-TIMELS announcing +1 then. With `answer` it reads
    what the daemon writes and answers MON-VER polls (protocol `protocol`)
    and CFG requests with the next cycle: "ack", "nak", "late" (only the
    second of each request), or "never"; a CFG-TP5 poll is answered with
    TP5_POLLED before its ACK."""

    def __init__(self, directory, mixed, leap_event=None, answer=None,
                 protocol="27.12"):
        super().__init__(directory, "ublox0", baud=115200, delay=0.05)
        self.mixed = mixed
        self.leap_event = leap_event
        self.clear_from = None  # first plan index without validUTC
        # Plan indexes whose TIM-TP says TpNotLocked.
        self.unlocked = range(0)
        self.answer = answer
        self.protocol = protocol
        self.requests = []      # (realtime ns, class, id, payload) read
        self._answers = b""
        self._seen = {}

    def start(self):
        super().start()
        if self.answer is not None:
            thread = threading.Thread(target=self._read_requests, daemon=True,
                                      name="ublox0-requests")
            thread.start()
            self._threads.append(thread)
        return self

    def _read_requests(self):
        pending = b""
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            try:
                chunk = os.read(master, 4096) if master is not None else b""
            except (BlockingIOError, OSError):
                chunk = b""
            if not chunk:
                time.sleep(0.01)
                continue
            frames, pending = split_frames(pending + chunk)
            for body in frames:
                cls, mid = body[0], body[1]
                payload = bytes(body[4:])
                with self._lock:
                    self.requests.append((fake_receiver.realtime_ns(), cls, mid,
                                          payload))
                    self._queue_answer(cls, mid, payload)

    def _queue_answer(self, cls, mid, payload):
        key = (cls, mid)
        self._seen[key] = self._seen.get(key, 0) + 1
        if self.answer == "never" or (self.answer == "late" and
                                      self._seen[key] == 1):
            return
        if (cls, mid) == (0x0A, 0x04):
            self._answers += mon_ver(self.protocol)
        elif cls == 0x06:
            if (cls, mid) == (0x06, 0x31) and len(payload) == 1:
                self._answers += frame(0x06, 0x31, TP5_POLLED)
            self._answers += frame(0x05, 0x00 if self.answer == "nak" else 0x01,
                                   bytes([cls, mid]))

    def _render(self, plan):
        valid_utc = self.clear_from is None or plan.index < self.clear_from
        if not valid_utc:
            plan.label = "no-utc"
        locked = plan.index not in self.unlocked
        if not locked:
            plan.label = "unlocked"
        data = (tim_tp(plan.reported + 1, locked) +
                nav_timeutc(plan.reported, valid_utc))
        if self.leap_event is not None:
            data += nav_timels(plan.reported, self.leap_event)
        if self.mixed:
            data += fake_receiver.cycle_sentences(plan.reported)
        with self._lock:
            data, self._answers = data + self._answers, b""
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
        "refclock SHM 1 dpoll 1 poll 1 filter 1 refid PPS",
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
        receiver_state = [rc for rc in ask(control)["refclocks"]
                          if rc["name"] == "gps"][0]["ubx_receiver"]
        status_lines = [line.strip() for line in run_status(
            ctx, config, name="status-ubx").splitlines()
            if "u-blox receiver" in line]
        # TpNotLocked in the TIM-TP of the next UNLOCKED_CYCLES cycles:
        # the pulses they label are withheld.
        with receiver._lock:
            first_unlocked = receiver._planned + 1
            receiver.unlocked = range(first_unlocked,
                                      first_unlocked + UNLOCKED_CYCLES)
        harness.wait_until(
            lambda: sum(r.label == "unlocked" for r in receiver.cycles)
            >= UNLOCKED_CYCLES and receiver.cycles[-1].label != "unlocked",
            15, f"{UNLOCKED_CYCLES} cycles with TpNotLocked", watch=[proc])
        # And pulses again after them.
        after_unlocked = pulses() + 1
        harness.wait_until(lambda: pulses() >= after_unlocked, 15,
                           "a pulse after TpNotLocked", watch=[proc])
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

    # The receiver's health in the live state, while it was locked.
    log(f"gps ubx_receiver before TpNotLocked: {receiver_state}")
    expected_state = {"fix": "", "fix_type": -1, "leap_count": "known",
                      "leap_count_known": True,
                      "time_accuracy_s": T_ACC_NS / NS, "tim_tp": True,
                      "pulse_locked": True, "raim_active": True}
    if receiver_state != expected_state:
        failures.append(f"ubx_receiver {receiver_state}, expected "
                        f"{expected_state}")
    log(f"shmrefclock status: {status_lines}")
    if not any(line.endswith("no NAV-PVT, leap-second count known, tAcc "
                             "50.000 us, pulse locked to GNSS, RAIM active")
               for line in status_lines):
        failures.append(f"status shows no u-blox receiver line: {status_lines}")
    # TpNotLocked: the pulses its TIM-TPs labelled (the cycle of S labels
    # S + 1) are withheld and counted.
    unlocked_pulses = {r.reported + 1 for r in receiver.cycles
                       if r.label == "unlocked"}
    log(f"TIM-TP said TpNotLocked for the pulses {sorted(unlocked_pulses)}; "
        f"pulses by verdict {pps_counters['pulses']}")
    if pps_counters["pulses"].get("not_locked", 0) < UNLOCKED_CYCLES - 1:
        failures.append(f"pulses not_locked "
                        f"{pps_counters['pulses'].get('not_locked')}, "
                        f"expected at least {UNLOCKED_CYCLES - 1}")

    # The pulses: numbered by TIM-TP, corrected by qErr, none after S0.
    pps_samples, _ = pps.snapshot()
    log(f"pps unit: {len(pps_samples)} samples; pulses_labelled "
        f"{labelled} before clearing, counters at the end {pps_counters}")
    # A cycle the daemon refused (a stall of this machine made it late: off
    # the timeline) carries no label: the pulse after it is numbered by the
    # fix before, carried forward (core/pps_numbering.hpp), without the
    # label's qErr and tAcc.
    refused = {calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
               for m in re.finditer(r"gps: receiver time (\S{19})", output)}
    # So may a cycle this machine held the fake up in (CycleRecord.stalled:
    # its stamp late, or its bytes split into two cycles; seen in CI beside
    # a fuzzer), or one the fake skipped because its writer woke late.
    on_time = {r.reported for r in receiver.cycles if not r.stalled}
    excused = 0
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
        if second in unlocked_pulses:
            failures.append(f"pps published {second}, whose TIM-TP said "
                            "TpNotLocked")
        if ((second - 1 in refused or second - 1 not in on_time)
                and sample.receive_ns == second * NS + EDGE_NS
                and sample.precision == -20):
            log(f"pps {second}: numbered by the fix, the cycle of "
                f"{second - 1} having been "
                f"{'refused' if second - 1 in refused else 'stalled or skipped'}")
            excused += 1
            continue
        if sample.precision != PPS_PRECISION_FOR_T_ACC:
            failures.append(f"pps {second}: precision {sample.precision}, "
                            f"expected {PPS_PRECISION_FOR_T_ACC} for tAcc "
                            f"{T_ACC_NS} ns")
        expected = second * NS + EDGE_NS + round_ps_to_ns(q_err_ps(second))
        if sample.receive_ns != expected:
            failures.append(f"pps {second}: receive {sample.receive_ns}, "
                            f"expected edge + qErr {expected} "
                            f"(qErr {q_err_ps(second)} ps)")
    if labelled < PUBLISHED_BEFORE_CLEARING - 1 - excused:
        failures.append(f"pulses_labelled {labelled}, expected at least "
                        f"{PUBLISHED_BEFORE_CLEARING - 1 - excused}")
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
        if observation.sample.precision != -1:
            failures.append(f"gps precision {observation.sample.precision}, "
                            "expected the configured -1 (tAcc is finer)")
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


# Cases `configure_ack`, `configure_nak`, `configure_late`,
# `configure_never` (issue 21, Done-when 3): ubx-configure = true, a fake
# that answers MON-VER (protocol 27.12) and CFG-VALSET as named. Asserted:
# the daemon writes a MON-VER poll and then one CFG-VALSET in RAM only
# (layers 0x01; never CFG-CFG, BBR or flash) enabling the five messages
# and aligning the time pulse, at most 3 tries of each, logs what came of
# it, and publishes the receiver's seconds throughout. Case `configure_m8`:
# a protocol 18 receiver that acknowledges everything: one CFG-MSG per
# message, a CFG-TP5 poll, and its answer sent back with only the
# alignment changed (TP5_ALIGNED).
CONFIGURE_LOG = {
    "ack": "receiver configured (protocol 27.12, RAM only): 1 request(s) "
           "acknowledged, 0 refused, 0 unanswered",
    "nak": "the receiver refused CFG-VALSET",
    "late": "receiver configured (protocol 27.12, RAM only): 1 request(s) "
            "acknowledged, 0 refused, 0 unanswered",
    "never": "no answer to MON-VER after 3 tries",
    "m8": "receiver configured (protocol 18.00, RAM only): 7 request(s) "
          "acknowledged, 0 refused, 0 unanswered",
}


def body_configure(ctx, answer):
    daemon = harness.daemon_binary()
    m8 = answer == "m8"
    receiver = FakeUblox(ctx.tmp, False, answer="ack" if m8 else answer,
                         protocol="18.00" if m8 else "27.12").start()
    gps = SegmentWatcher(0)
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "baud": 115200,
             "unit": 0, "min-fixes": 2, "ubx-configure": "true"}], name="ubx")
        proc = ctx.start("shmrefclock", [daemon, "-c", config])
        gps.start()
        expected = CONFIGURE_LOG[answer]
        harness.wait_until(lambda: expected in proc.output(), 30,
                           f"the log line {expected!r}", watch=[proc])
        # Reading on: samples after the outcome was logged.
        count = len(gps.snapshot()[0])
        harness.wait_until(lambda: len(gps.snapshot()[0]) >= count + 3, 10,
                           "3 more samples after the configuration",
                           watch=[proc])
        proc.stop()
        output = proc.output()
    finally:
        gps.stop()
        receiver.stop()
    reports = fake_receiver.sanitizer_reports(output)
    check(not reports, f"sanitizer or crash output: {reports[:5]}")
    failures = []
    polls = [r for r in receiver.requests if (r[1], r[2]) == (0x0A, 0x04)]
    after_polls = [r for r in receiver.requests if (r[1], r[2]) != (0x0A, 0x04)]
    if m8:
        check_m8(after_polls, failures)
        after_polls = []  # checked
    valsets = [r for r in after_polls if (r[1], r[2]) == (0x06, 0x8A)]
    others = [r for r in after_polls if (r[1], r[2]) != (0x06, 0x8A)]
    log(f"requests read: {len(polls)} MON-VER polls, {len(valsets)} "
        f"CFG-VALSET, others {[(hex(r[1]), hex(r[2])) for r in others]}")
    if others:
        failures.append(f"the daemon wrote other requests: {others}")
    if not 1 <= len(polls) <= 3:
        failures.append(f"{len(polls)} MON-VER polls, expected 1 to 3")
    if answer == "never":
        if len(polls) != 3 or valsets:
            failures.append(f"silence: {len(polls)} polls, {len(valsets)} "
                            "CFG-VALSET; expected 3 polls and nothing more")
    elif not m8:
        if not 1 <= len(valsets) <= 3:
            failures.append(f"{len(valsets)} CFG-VALSET, expected 1 to 3")
        if answer == "late" and (len(polls) < 2 or len(valsets) < 2):
            failures.append("late: the unanswered first requests were not "
                            "sent again")
        for _, _, _, payload in valsets:
            # version 0, layers RAM only, then (key U4, value U1) triples.
            if payload[0] != 0 or payload[1] != 0x01:
                failures.append(f"CFG-VALSET version/layers {payload[:2].hex()}")
            keys = {struct.unpack_from("<I", payload, 4 + 5 * i)[0]: payload[8 + 5 * i]
                    for i in range((len(payload) - 4) // 5)}
            log(f"CFG-VALSET keys {', '.join(f'{k:#x}={v}' for k, v in keys.items())}")
            # CFG-MSGOUT-UBX_NAV_TIMEUTC, _NAV_TIMELS, _TIM_TP,
            # _NAV_TIMEGPS, _NAV_PVT on UART1 (a pty is no USB device);
            # CFG-TP-ALIGN_TO_TOW_TP1 = 1, CFG-TP-TIMEGRID_TP1 = 0 (UTC).
            if keys != {0x2091005c: 1, 0x20910061: 1, 0x2091017e: 1,
                        0x20910048: 1, 0x20910007: 1,
                        0x1005000a: 1, 0x2005000c: 0}:
                failures.append(f"CFG-VALSET keys {keys}")
    seconds = [o.sample.clock_ns // NS for o in gps.snapshot()[0]]
    for second in seconds:
        if receiver.record_reporting(second * NS) is None:
            failures.append(f"published {second}, which the fake never named")
    for failure in failures:
        log(f"FAIL: {failure}")
    if failures:
        raise Fail(f"{len(failures)} failure(s), first: {failures[0]}")


def check_m8(requests, failures):
    """The requests after MON-VER to the protocol 18 receiver: CFG-MSG for
    NAV-TIMEUTC, NAV-TIMELS, TIM-TP, NAV-TIMEGPS and NAV-PVT at rate 1, the
    CFG-TP5 poll of
    TIMEPULSE, then TP5_ALIGNED; each once (all were acknowledged)."""
    written = [((r[1], r[2]), r[3]) for r in requests]
    expected = [((0x06, 0x01), bytes([0x01, 0x21, 1])),
                ((0x06, 0x01), bytes([0x01, 0x26, 1])),
                ((0x06, 0x01), bytes([0x0D, 0x01, 1])),
                ((0x06, 0x01), bytes([0x01, 0x20, 1])),
                ((0x06, 0x01), bytes([0x01, 0x07, 1])),
                ((0x06, 0x31), bytes([0])),
                ((0x06, 0x31), TP5_ALIGNED)]
    log(f"m8: requests after MON-VER {[(f'{c:#x} {i:#x}', p.hex()) for (c, i), p in written]}")
    if written != expected:
        failures.append(f"m8: requests {written}, expected {expected}")


if __name__ == "__main__":
    variant = sys.argv[1] if len(sys.argv) > 1 else "ubx"
    answers = ("ack", "nak", "late", "never", "m8")
    if variant not in ("ubx", "mixed", "timels") + tuple(
            f"configure_{a}" for a in answers):
        raise SystemExit(f"usage: {sys.argv[0]} ubx|mixed|timels|"
                         f"configure_{{{','.join(answers)}}}")
    if variant.startswith("configure_"):
        answer = variant.removeprefix("configure_")
        harness.main(f"ubx_{variant}", lambda ctx: body_configure(ctx, answer),
                     timeout=100)
    elif variant == "timels":
        harness.main("ubx_timels", body_timels, timeout=100)
    else:
        harness.main(f"ubx_{variant}",
                     lambda ctx: body(ctx, variant == "mixed"), timeout=100)
