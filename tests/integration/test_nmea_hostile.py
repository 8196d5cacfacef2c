#!/usr/bin/python3
"""Hostile receivers on a pty, with a pps refclock locked to each (issue 18).

Each variant is a fake receiver (fake_receiver.py, one cycle a second at
its UTC second + DELAY) whose cycles are generated from parameters, and a
daemon of its own (the clock emulator's default: kernel unsynchronized, so
the witness cannot help) with an NMEA refclock `gps` and a pps refclock
locked to it on the PPS emulator's /dev/pps0 (edges on the second +
PPS_OFFSET_NS). The variants of a case run side by side, each in its own
units; every segment is read every 10 ms throughout.

Parameters of a variant (all but `kind` optional):
  kind      walk | step | leap | correction
  good      right cycles before the fault (the first `min-fixes` acquire)
  faulty    cycles from the fault on
  rate      walk: seconds gained per second (0.12: cycle k of the walk names
            its second + 0.12 k)
  step      step: seconds added from the fault on (-1: a second behind);
            correction: seconds the receiver is off BEFORE the fault (a
            wrong leap count after a cold start), right from the fault on
  witness   correction: the kernel (clock emulator, a state file) turns
            synchronized (maxerror 20 ms) this many seconds after the fault;
            until then it is not, as in every other variant
  every     a refused cycle every N cycles (k % N == N - 1; 0: none)
  hide      how it is refused: no_fix (RMC V, GGA 0), q0 (RMC A, GGA
            quality 0), disagree (GGA names the next second)
  list      leap: valid (schedules nothing at the end of 2026-12-31) or
            expired
  probation the refclock's step-probation, s (default: the daemon's 600)
  reload    1: SIGHUP the daemon (reload its configuration) 3 s after the
            fault: what was believed of the receiver must outlive it
  tcp       1: the receiver is on tcp://127.0.0.1:PORT, not a pty (a reload
            reconnects, and the peer goes on sending)

The truth is what the receiver named for its good cycles: the second the
cycle was written for (plus, for `leap`, the shift to 2026-12-31 23:59:5x).
Checked for every variant, from the segments (never from the daemon's
log):
- the NMEA unit: every published sample is less than 0.1 s from the
  truth of the cycle it was stamped in (reference - truth), and samples
  from the good cycles before the fault are published;
- the PPS unit: every published pulse is numbered by its true second
  (reference = the edge's second, exactly), and pulses before the fault
  are published;
- with `probation` set (a step that holds): nothing from the new timeline
  is published before the probation has run, and it is published after;
  the warnings say when it started and ended.

Cases (meson runs each as a test of its own; each under ~60 s):
  walks      the walk of the report (0.12 s/s, V every 4th) and the same walk
             hidden by GGA quality 0 and by disagreeing cycles; other rates
  steps      a -1 s step after 30 good cycles with V cycles mixed in, and
             other steps and hidings; one with a reload during the step
             (without the timeline carried over, it published -1 s off)
  leap       a made-up 23:59:60 on 2026-12-31, then a second behind: with a
             valid leap-second list and with an expired one
  probation  a -1 s step with step-probation = 8 s: believed after it; and
             a receiver a second ahead from the start that corrects itself,
             believed as soon as the kernel (synchronized 6 s later through
             the clock emulator) vouches for it: late, never wrong
  random     three variants drawn from a seed (a walk, a step, and one of
             either; rates, steps, hidings and lengths from the ranges in
             random_variants()): each run checks variants that are in no
             list. The seed is logged; SHMREFCLOCK_IT_SEED=N repeats a run.
Or a variant not in the repository:
  test_nmea_hostile.py custom kind=walk rate=0.07 every=3 hide=q0 good=15
"""

import calendar
import dataclasses
import os
import random
import signal
import sys
import time

import fake_receiver as fr
import harness
from harness import Fail, check, log
from test_leap_seconds import hand_list
from test_pps import emulator_env, emulator_library

NS = 1_000_000_000
DELAY = 0.1              # each cycle's first byte after its second
PPS_OFFSET_NS = 20_000   # each edge after its second
MIN_FIXES = 3
WRONG_NS = 100_000_000   # 0.1 s off is wrong (issue 18)
NEW_YEAR = calendar.timegm((2027, 1, 1, 0, 0, 0))


@dataclasses.dataclass
class Variant:
    kind: str
    good: int = 12
    faulty: int = 20
    rate: float = 0.0
    step: float = 0.0
    every: int = 0
    hide: str = "no_fix"
    list: str = "valid"
    probation: float = 0.0
    reload: int = 0
    tcp: int = 0
    witness: float = 0.0
    # Filled in when run.
    name: str = ""
    unit: int = 0
    receiver: object = None
    proc: object = None
    start: int = 0          # the true second of cycle 0
    shift: int = 0          # named - true second, for the good cycles
    watchers: tuple = ()
    clock_file: object = None
    synchronized_ns: int = 0

    def describe(self):
        fields = [f"{f.name}={getattr(self, f.name)}"
                  for f in dataclasses.fields(self)
                  if f.name in ("kind", "good", "faulty", "rate", "step",
                                "every", "hide", "list", "probation",
                                "reload", "tcp", "witness")]
        return " ".join(fields)

    def fault_start(self):
        """The true second of the first faulty cycle."""
        return self.start + self.good


def parse_variant(words):
    variant = Variant(kind="walk")
    for word in words:
        key, _, value = word.partition("=")
        check(hasattr(variant, key) and key not in ("name", "unit"),
              f"unknown parameter {key!r}")
        kind = type(getattr(variant, key))
        setattr(variant, key, kind(value))
    check(variant.kind in ("walk", "step", "leap", "correction"),
          f"kind {variant.kind}")
    check(variant.hide in ("no_fix", "q0", "disagree"), f"hide {variant.hide}")
    return variant


CASES = {
    "walks": [
        Variant("walk", rate=0.12, every=4, hide="no_fix"),
        Variant("walk", rate=0.12, every=4, hide="q0"),
        Variant("walk", rate=0.12, every=4, hide="disagree"),
        Variant("walk", rate=0.05, every=2, hide="no_fix"),
        Variant("walk", rate=-0.2, every=3, hide="q0"),
    ],
    "steps": [
        Variant("step", good=30, faulty=15, step=-1, every=4, hide="no_fix"),
        Variant("step", good=30, faulty=15, step=1, every=3, hide="q0"),
        Variant("step", good=30, faulty=15, step=-2, every=5,
                hide="disagree"),
        Variant("step", good=30, faulty=15, step=-0.5, every=4,
                hide="no_fix"),
        Variant("step", good=30, faulty=15, step=-1, every=5, hide="q0",
                reload=1),
    ],
    "leap": [
        Variant("leap", good=10, faulty=15, list="valid"),
        Variant("leap", good=10, faulty=15, list="expired"),
        Variant("leap", good=10, faulty=15, list="expired", every=4,
                hide="no_fix"),
    ],
    "probation": [
        Variant("step", good=10, faulty=25, step=-1, every=4, hide="no_fix",
                probation=8),
        # A receiver a second ahead from the start (nothing can tell: the
        # kernel is unsynchronized) corrects itself; the kernel, synchronized
        # 6 s later, vouches for the correction: believed then, not after
        # 600 s.
        Variant("correction", good=10, faulty=20, step=1, every=4,
                hide="no_fix", witness=6),
    ],
}


# ----------------------------------------------------------------------------
# The receiver


def hms_date(named_ns, leap_second=False):
    """'HHMMSS.cc' and 'DDMMYY' for a time in ns (23:59:60.cc with
    `leap_second`, named_ns then being in that day's 23:59:59)."""
    second, fraction = divmod(named_ns, NS)
    tm = time.gmtime(second)
    sec = tm.tm_sec + (1 if leap_second else 0)
    hms = f"{tm.tm_hour:02d}{tm.tm_min:02d}{sec:02d}.{fraction // 10_000_000:02d}"
    return hms, f"{tm.tm_mday:02d}{tm.tm_mon:02d}{tm.tm_year % 100:02d}"


def hostile_cycle(named_ns, hide=None, leap_second=False):
    hms, date = hms_date(named_ns, leap_second)
    rmc_status = "V" if hide == "no_fix" else "A"
    quality = "0" if hide in ("no_fix", "q0") else "1"
    gga_hms = hms
    if hide == "disagree":
        gga_hms, _ = hms_date(named_ns + NS)
    lat, lon = "4807.03812,N", "01131.00046,E"
    bodies = [
        f"GNRMC,{hms},{rmc_status},{lat},{lon},0.012,,{date},,,A,V",
        f"GNGGA,{gga_hms},{lat},{lon},{quality},12,0.79,545.4,M,46.9,M,,",
        "GPGSV,3,1,11,05,33,066,42,13,60,291,45,15,40,213,44,18,22,315,40,1",
        "GPGSV,3,2,11,20,47,138,46,23,10,041,35,24,72,089,48,29,25,171,43,1",
        "GPGSV,3,3,11,10,05,305,,16,03,090,,26,01,012,,1",
    ]
    return b"".join(fr.sentence(body) for body in bodies)


class HostileReceiver(fr.FakeReceiver):
    """A FakeReceiver whose cycles name any time (fractions included), set
    by the fault function in plan.named_ns, plan.hide, plan.leap_second."""

    def _render(self, plan):
        return hostile_cycle(plan.named_ns, getattr(plan, "hide", None),
                             plan.leap_second)


def plan_for(variant):
    """The fault function: what cycle k (k = true second - start) names."""
    def plan(p):
        k = p.boundary - variant.start
        total = variant.good + variant.faulty
        if k < 0 or k >= total:
            p.silent = True
            return
        truth_ns = (p.boundary + variant.shift) * NS
        fault_k = k - variant.good
        hide = None
        if variant.every and k % variant.every == variant.every - 1:
            hide = variant.hide
        named = truth_ns
        if variant.kind == "walk" and fault_k >= 0:
            named = truth_ns + round(variant.rate * fault_k * NS)
        elif variant.kind == "step" and fault_k >= 0:
            named = truth_ns + round(variant.step * NS)
        elif variant.kind == "correction" and fault_k < 0:
            named = truth_ns + round(variant.step * NS)
        elif variant.kind == "leap" and fault_k >= 0:
            # The receiver inserts 23:59:60 after the good cycles' last
            # 23:59:59, and is a second behind from then on.
            if fault_k == 0:
                named = truth_ns - NS
                p.leap_second = True
                hide = None
            else:
                named = truth_ns - NS
        p.named_ns = named
        p.hide = hide
        p.fix = hide != "no_fix"
        p.label = f"k={k} named {named / NS:.2f} hide {hide}"
    return plan


# ----------------------------------------------------------------------------
# Running a case


def config_for(ctx, variant, leap_list):
    gps = {"name": '"gps"', "source": '"nmea"',
           "device": fr.toml_string(variant.receiver.device), "baud": 9600,
           "unit": variant.unit, "min-fixes": MIN_FIXES}
    if variant.probation:
        gps["step-probation"] = variant.probation
    pps = {"name": '"pps"', "source": '"pps"', "device": '"/dev/pps0"',
           "unit": variant.unit + 1, "lock": '"gps"'}
    conf = fr.daemon_config(ctx, [gps, pps], name=variant.name)
    if leap_list is not None:
        conf.write_text(conf.read_text().replace(
            "[daemon]\n",
            f"[daemon]\nleap-seconds = {fr.toml_string(leap_list)}\n"))
    return conf


# A kernel that an NTP daemon keeps within 20 ms: the witness can tell a
# second apart (bound maxerror + 0.5 s).
SYNCHRONIZED_20MS = "status=PLL,maxerror=20000,esterror=1000"


def set_clock(variant, state):
    """The clock emulator's state for this variant's daemon, replaced whole
    (it reads the file on every call)."""
    temporary = variant.clock_file.with_suffix(".new")
    temporary.write_text(state + "\n")
    os.replace(temporary, variant.clock_file)


def leap_list_for(ctx, variant):
    if variant.kind != "leap":
        return None
    jan01_2017 = calendar.timegm((2017, 1, 1, 0, 0, 0))
    if variant.list == "valid":
        # Valid through 2027-06-28: it lists every leap second up to then,
        # and none at the end of 2026-12-31.
        expires = calendar.timegm((2027, 6, 28, 0, 0, 0))
        updated = calendar.timegm((2026, 7, 6, 0, 0, 0))
    else:
        # Expired, as tzdata's list on a machine not updated for a year.
        expires = calendar.timegm((2025, 12, 28, 0, 0, 0))
        updated = calendar.timegm((2025, 1, 6, 0, 0, 0))
    return ctx.write(f"{variant.name}.list",
                     hand_list([(jan01_2017, 37)], expires=expires,
                               updated=updated))


def truth_ns(variant, receive_ns):
    """The true time the receiver should have named for the cycle stamped
    at `receive_ns` (the stamp is DELAY after the cycle's second, late by
    the machine's load, never by half a second)."""
    second = round((receive_ns - DELAY * NS) / NS)
    return (second + variant.shift) * NS


def run_case(ctx, variants):
    daemon = harness.daemon_binary()
    library = emulator_library()
    start = time.time_ns() // NS + 6
    for index, variant in enumerate(variants):
        variant.name = f"v{index}-{variant.kind}"
        variant.unit = 2 * index
        variant.start = start
        if variant.kind == "leap":
            # The good cycles are the last seconds of 2026-12-31.
            variant.shift = (NEW_YEAR - variant.good) - start
        variant.receiver = HostileReceiver(ctx.tmp, name=f"gnss-{index}",
                                           delay=DELAY, tcp=bool(variant.tcp))
        variant.receiver.fault = plan_for(variant)
        log(f"{variant.name}: {variant.describe()}, units {variant.unit} and "
            f"{variant.unit + 1}")
    try:
        for variant in variants:
            variant.receiver.start()
            conf = config_for(ctx, variant, leap_list_for(ctx, variant))
            env = emulator_env(daemon, library,
                               ctx.path(f"{variant.name}.trace"),
                               offset_ns=PPS_OFFSET_NS)
            if variant.witness:
                variant.clock_file = ctx.path(f"{variant.name}.clock")
                set_clock(variant, harness.UNSYNCHRONIZED)
                env["LD_PRELOAD"] += " " + harness.clock_emulator()
                env["SHMREFCLOCK_CLOCK_FILE"] = str(variant.clock_file)
                env.pop("SHMREFCLOCK_CLOCK_STATE", None)
            variant.proc = ctx.start(variant.name, [daemon, "-c", conf],
                                     env=env)
        for variant in variants:
            variant.receiver.wait_opened(5)
            harness.wait_for_segment(variant.unit, 5, watch=[variant.proc])
            harness.wait_for_segment(variant.unit + 1, 5,
                                     watch=[variant.proc])
            variant.watchers = (
                fr.SegmentWatcher(variant.unit, interval=0.01).start(),
                fr.SegmentWatcher(variant.unit + 1, interval=0.01).start())
        check(time.time() < start - 0.2,
              "the daemons were not ready before the first cycle")
        last = start + max(v.good + v.faulty for v in variants)
        procs = [v.proc for v in variants]
        reloads = [v for v in variants if v.reload]
        syncs = [v for v in variants if v.witness]

        def done():
            for variant in list(syncs):
                if time.time() > variant.fault_start() + variant.witness:
                    set_clock(variant, SYNCHRONIZED_20MS)
                    variant.synchronized_ns = time.time_ns()
                    log(f"{variant.name}: kernel synchronized")
                    syncs.remove(variant)
            for variant in list(reloads):
                if time.time() > variant.fault_start() + 3:
                    os.kill(variant.proc.pid, signal.SIGHUP)
                    log(f"{variant.name}: SIGHUP")
                    reloads.remove(variant)
            return time.time() > last + 1.5

        # Until the last cycle is written and its sample (if any) out.
        harness.wait_until(done, last + 5 - time.time(), "the last cycle",
                           interval=0.2, watch=procs)
    finally:
        for variant in variants:
            for watcher in variant.watchers:
                watcher.stop()
        for variant in variants:
            if variant.proc is not None:
                variant.proc.stop()
            variant.receiver.stop()

    failures = []
    for variant in variants:
        failures += judge(variant)
    if failures:
        for variant in variants:
            log(f"--- {variant.name} log tail:")
            for line in variant.proc.output().splitlines()[-60:]:
                log(f"    {line}")
        raise Fail("; ".join(failures))


def judge(variant):
    failures = []
    name = f"{variant.name} ({variant.describe()})"
    text = variant.proc.output()
    nmea, _ = variant.watchers[0].snapshot()
    pps, _ = variant.watchers[1].snapshot()
    fault_ns = variant.fault_start() * NS
    probation_ends_ns = None
    if variant.probation:
        # The new timeline's second cycle starts the probation's clock
        # (core/timeline.hpp); a refused cycle may delay it a second more.
        probation_ends_ns = fault_ns + round(variant.probation * NS)
    before = after = 0
    believed_late = 0
    if variant.kind == "correction":
        return judge_correction(variant, name, text, nmea, pps, fault_ns)
    for observation in nmea:
        sample = observation.sample
        truth = truth_ns(variant, sample.receive_ns)
        error = sample.clock_ns - truth
        if sample.receive_ns < fault_ns:
            before += 1
        else:
            after += 1
        if probation_ends_ns is not None and sample.receive_ns >= fault_ns:
            # A step that held: believed once the probation has run.
            if sample.receive_ns < probation_ends_ns:
                failures.append(f"{name}: NMEA sample {sample} published "
                                f"during the probation")
            elif error != round(variant.step * NS):
                failures.append(f"{name}: NMEA sample {sample} after the "
                                f"probation is {error / NS:+.3f} s off")
            else:
                believed_late += 1
            continue
        if abs(error) >= WRONG_NS:
            failures.append(f"{name}: NMEA sample {sample} is "
                            f"{error / NS:+.3f} s off the truth")
    if before == 0:
        failures.append(f"{name}: no NMEA sample from the good cycles")
    pps_before = 0
    for observation in pps:
        sample = observation.sample
        edge_second = (sample.receive_ns - PPS_OFFSET_NS) // NS
        truth = (edge_second + variant.shift) * NS
        error = sample.clock_ns - truth
        if sample.receive_ns < fault_ns:
            pps_before += 1
        if probation_ends_ns is not None and sample.receive_ns >= fault_ns:
            continue  # numbered from the timeline believed after probation
        if abs(error) >= WRONG_NS or (sample.receive_ns - PPS_OFFSET_NS) % NS:
            failures.append(f"{name}: pulse {sample} numbered "
                            f"{error / NS:+.3f} s off")
    if pps_before == 0:
        failures.append(f"{name}: no pulse numbered from the good cycles")
    if variant.reload and "reloaded: 2 refclock(s)" not in text:
        failures.append(f"{name}: the daemon did not reload")
    if probation_ends_ns is not None:
        if believed_late == 0:
            failures.append(f"{name}: the new timeline was never believed "
                            "after its probation")
        for phrase in ("not published during a probation of",
                       "believed after its probation of"):
            if phrase not in text:
                failures.append(f"{name}: no warning with {phrase!r}")
    reports = fr.sanitizer_reports(text)
    if reports:
        failures.append(f"{name}: sanitizer: {reports}")
    log(f"{name}: NMEA {before} samples before the fault, {after} after "
        f"({believed_late} after the probation); {len(pps)} pulses, "
        f"{pps_before} before the fault")
    return failures


def judge_correction(variant, name, text, nmea, pps, fault_ns):
    """A receiver `step` s off until the fault, right after it; the kernel
    synchronized `witness` s after the fault. Before the fault its samples
    are as wrong as it is (nothing can tell); from the fault on nothing is
    published until the kernel vouches for the correction, and then only
    the right second."""
    failures = []
    before = after = 0
    synchronized = variant.synchronized_ns
    if not synchronized:
        return [f"{name}: the kernel was never synchronized"]
    for observation in nmea:
        sample = observation.sample
        error = sample.clock_ns - truth_ns(variant, sample.receive_ns)
        if sample.receive_ns < fault_ns:
            before += 1
            if error != round(variant.step * NS):
                failures.append(f"{name}: NMEA sample {sample} before the "
                                f"correction is {error / NS:+.3f} s off")
            continue
        after += 1
        if sample.receive_ns < synchronized:
            failures.append(f"{name}: NMEA sample {sample} published before "
                            "the kernel vouched for the correction")
        elif error != 0:
            failures.append(f"{name}: NMEA sample {sample} after the "
                            f"correction is {error / NS:+.3f} s off")
    pulses_after = 0
    for observation in pps:
        sample = observation.sample
        if sample.receive_ns < fault_ns + 2 * NS + DELAY * NS:
            # Numbered by the last sample of the receiver's old, wrong
            # timeline, current for 2 s after its cycle.
            continue
        pulses_after += 1
        truth = (sample.receive_ns - PPS_OFFSET_NS) // NS * NS
        if sample.clock_ns != truth:
            failures.append(f"{name}: pulse {sample} numbered "
                            f"{(sample.clock_ns - truth) / NS:+.3f} s off")
    if before == 0:
        failures.append(f"{name}: no NMEA sample before the correction")
    if after == 0:
        failures.append(f"{name}: the correction was never believed")
    if pulses_after == 0:
        failures.append(f"{name}: no pulse after the correction")
    if "because the synchronized kernel clock agrees" not in text:
        failures.append(f"{name}: no warning that the witness ended the "
                        "probation")
    log(f"{name}: NMEA {before} samples before the correction, {after} "
        f"after; kernel synchronized "
        f"{(synchronized - fault_ns) / NS:.1f} s after it; "
        f"{pulses_after} pulses after it")
    return failures


def random_variants(rng):
    """A walk, a step and one of either, from ranges the daemon must catch:
    walks of 0.02 to 0.3 s a second (20 to 300 times the timeline's
    1000 ppm), steps of 0.2 to 0.9 s or 1 to 3 whole seconds (over its 50 ms
    tolerance, and the whole seconds a wrong leap count or a firmware bug
    makes), either way; a refused cycle every 2 to 5 cycles or none, hidden
    each of the three ways; 10 to 30 good cycles first. Each variant lasts
    at most 50 cycles, so the case stays inside its time limit."""
    def walk():
        rate = round(rng.uniform(0.02, 0.3), 3) * rng.choice((1, -1))
        return Variant("walk", rate=rate, good=rng.randint(10, 30),
                       faulty=rng.randint(12, 20), every=rng.choice((0, 2, 3, 4, 5)),
                       hide=rng.choice(("no_fix", "q0", "disagree")))

    def step():
        size = rng.choice((round(rng.uniform(0.2, 0.9), 2), rng.randint(1, 3)))
        return Variant("step", step=size * rng.choice((1, -1)), good=rng.randint(10, 30),
                       faulty=rng.randint(12, 20), every=rng.choice((0, 2, 3, 4, 5)),
                       hide=rng.choice(("no_fix", "q0", "disagree")))

    return [walk(), step(), rng.choice((walk, step))()]


def body(ctx):
    args = sys.argv[1:] or ["walks"]
    if args[0] == "custom":
        variants = [parse_variant(args[1:])]
    elif args[0] == "random":
        seed = os.environ.get("SHMREFCLOCK_IT_SEED")
        seed = int(seed) if seed else random.SystemRandom().randrange(2 ** 32)
        log(f"random seed {seed} (SHMREFCLOCK_IT_SEED={seed} repeats it)")
        variants = random_variants(random.Random(seed))
    else:
        check(args[0] in CASES, f"unknown case {args[0]}")
        variants = CASES[args[0]]
    run_case(ctx, variants)


if __name__ == "__main__":
    harness.main("nmea_hostile", body, timeout=110)
