#!/usr/bin/python3
"""Known faults, exactly those counts in every view (issue 10, Done-when 1).

One daemon: an nmea refclock fed by a fake receiver on a pty, and a pps
refclock on an emulated /dev/pps0 (tests/pps-emulator) numbered by the
system clock. Injected:

- BAD_CYCLES cycles whose every sentence has a wrong checksum: 8 sentences
  each (fake_receiver.cycle_sentences), so 8 * BAD_CYCLES bad checksums;
- NO_FIX_CYCLES cycles with RMC status V (no fix): that many no_fix
  cycles (every cycle is written at once, so that none is split in two);
- the pulses of every SHIFT_EVERY-th second come 0.5 s late: each is dropped
  as outside the 0.4 s window. How many the daemon fetched is counted from
  the emulator's trace (its pulses' kernel times), not from the daemon.

Then, a quarter of a second after a true second (no pulse is due for
0.25 s, and the receiver sends only clean cycles), the same counts are read
from the control socket, from `shmrefclock status --json` and from
/metrics, and must be exactly what was injected.
"""

import json
import os
import re
import subprocess
import time

import fake_receiver
import harness
import http_util
from fake_receiver import NS, FakeReceiver, toml_string
from harness import Fail, check, log
from test_control import ask
from test_pps import emulator_env, emulator_library, trace_lines

BAD_CYCLES = 3
SENTENCES_PER_CYCLE = 8
NO_FIX_CYCLES = 2
SHIFT_EVERY = 4
EDGE_NS = 20_000
SHIFT_NS = 500_000_000
FETCH = re.compile(r"fetch assert=(\d+)@(\d+)\.(\d{9})")


def shifted_pulses(trace, before_ns):
    """Distinct pulses the daemon fetched whose edge came 0.5 s late, before
    `before_ns` (CLOCK_REALTIME)."""
    seen = set()
    for line in trace_lines(trace):
        match = FETCH.search(line)
        if not match:
            continue
        sequence, seconds, fraction = (int(g) for g in match.groups())
        edge = seconds * NS + fraction
        if fraction == SHIFT_NS + EDGE_NS and edge < before_ns:
            seen.add(sequence)
    return len(seen)


def inject(receiver, daemon, plans):
    """Make the next cycles as `plans` (functions of a CyclePlan) say; wait
    until they are written."""
    done = []

    def apply(plan):
        if len(done) < len(plans):
            plans[len(done)](plan)
            done.append(plan.index)
    receiver.fault = apply
    try:
        harness.wait_until(
            lambda: len([r for r in receiver.cycles if r.index in done]) ==
            len(plans), len(plans) + 4, "the faulty cycles", interval=0.05,
            watch=[daemon])
    finally:
        receiver.fault = None
    return [r for r in receiver.cycles if r.index in done]


def bad_checksum(plan):
    plan.bad_checksum = True


def no_fix(plan):
    plan.fix = False


def at_quarter_past():
    """Sleep until 0.25 s after the next true second."""
    now = time.time()
    time.sleep((int(now) + 1.25) - now)


def views(control, config, port, daemon_path):
    """The gps and pps refclocks' counters from each view, with nothing
    counted while they were read: {view: (gps counters, pps counters)}, or
    (None, what each read said) when the reads disagree: the control
    socket's before the other two views, status --json, /metrics and the
    control socket's after them. A pulse or a cycle came between them (how
    long the reads take depends on the machine's load, so that is the
    condition, not a bound on their time); and each view may answer with a
    rendering captured up to its max age before the request
    (docs/design.md, "Rendering off the loop": 0.1 s for status, 1 s for
    /metrics), so an unchanged control socket before and after does not
    prove that /metrics saw the same state. A daemon whose views disagree
    for good fails after the attempts."""
    state = ask(control)
    status = subprocess.run([str(daemon_path), "-c", str(config), "status",
                             "--json"], capture_output=True, text=True,
                            timeout=10, env=harness.clock_env(daemon_path))
    check(status.returncode == 0,
          f"status --json exited {status.returncode}: {status.stderr}")
    report = json.loads(status.stdout)
    code, _, body = http_util.request(port, "/metrics")
    check(code == 200, f"/metrics answered {code}")
    after = ask(control)

    def from_state(doc, what):
        check(doc is not None, f"{what}: no live state")
        by_name = {r["name"]: r["counters"] for r in doc["refclocks"]}
        return by_name["gps"], by_name["pps"]

    text = body.decode()

    def metric(name, **labels):
        value = http_util.metric(text, name, **labels)
        return None if value is None else int(value)

    gps = {"sentences": {"bad_checksum": metric(
               "shmrefclock_sentences_total", refclock="gps",
               result="bad_checksum")},
           "cycles": {"no_fix": metric("shmrefclock_cycles_total",
                                       refclock="gps", outcome="no_fix")}}
    pps = {"pulses": {"outside_window": metric(
        "shmrefclock_pulses_total", refclock="pps",
        verdict="outside_window")}}
    def injected(counters):
        gps, pps = counters
        return (gps.get("sentences", {}).get("bad_checksum"),
                gps.get("cycles", {}).get("no_fix"),
                pps.get("pulses", {}).get("outside_window"))

    seen = {"control socket": from_state(state, "control socket"),
            "status --json": from_state(report["daemon"], "status --json"),
            "/metrics": (gps, pps)}
    reads = [injected(seen["control socket"]), injected(seen["status --json"]),
             injected(seen["/metrics"]), injected(from_state(after, "control socket"))]
    if len(set(reads)) != 1:
        return None, reads
    return seen, reads


def body(ctx):
    daemon_path = harness.daemon_binary()
    port = http_util.free_port()
    control = ctx.path("control")
    trace = ctx.path("pps.trace")
    # At 115200 baud a cycle is on the line for 35 ms, not 400: a machine
    # so loaded that the pty's bytes reach the daemon after a pause longer
    # than its batch period (the kernel pushes them from a worker thread)
    # cuts a cycle in two, counted twice, and this test is of the counts,
    # not of the framing (nmea_core's unit tests and decode_replay are).
    # Every cycle in one write (paced=False): a paced cycle that something
    # held up mid-way for the daemon's quiet gap is two cycles, and the
    # second half of a clean one (GGA without RMC: no date, so no time)
    # counts as no_fix. That is what failed twice in the sanitizer suite
    # (no_fix 3 for 2 injected), with no stall in the no-fix cycles
    # themselves. This test checks counts, not timing.
    receiver = FakeReceiver(ctx.tmp, "gnss0", baud=115200, paced=False).start()
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "baud": 115200,
             "unit": 0, "min-fixes": 2},
            {"name": '"pps"', "source": '"pps"', "device": '"/dev/pps0"',
             "lock": '"system"', "unit": 1}], name="counters",
            log_level="info")
        text = config.read_text().replace(
            "[daemon]\n", f'[daemon]\ncontrol = "{control}"\n'
            f'metrics = "127.0.0.1:{port}"\n', 1)
        config.write_text(text)
        env = emulator_env(daemon_path, emulator_library(), trace,
                           offset_ns=EDGE_NS, shift_every=SHIFT_EVERY,
                           shift_ns=SHIFT_NS)
        env.pop("WATCHDOG_USEC", None)
        env.pop("NOTIFY_SOCKET", None)
        daemon = ctx.start("shmrefclock", [daemon_path, "-c", config],
                           env=env)
        harness.wait_for_valid_sample(0, 8, watch=[daemon])
        injected = inject(receiver, daemon, [bad_checksum] * BAD_CYCLES +
                          [no_fix] * NO_FIX_CYCLES)
        # Written at once, a no-fix cycle can still be handed to the daemon
        # in two pieces if the machine took a CPU away while the pty
        # delivered it (tests/stall-monitor): two no-fix cycles then. (A
        # gap in the write itself cannot happen in one write; it is kept in
        # the sum should the cycles be paced again.)
        split = sum(1 for r in injected[BAD_CYCLES:]
                    if r.max_gap_ns >= fake_receiver.QUIET_GAP_NS
                    or r.machine_stall is not None)
        log("no-fix cycles written with at most " + ", ".join(
            f"{r.max_gap_ns / 1e6:.1f}" for r in injected[BAD_CYCLES:]) +
            " ms between two bytes; machine stalls in them: " + ", ".join(
                harness.stall_text(r.machine_stall) if r.machine_stall
                else "none" for r in injected[BAD_CYCLES:]))
        log(f"injected {BAD_CYCLES} cycles with bad checksums and "
            f"{NO_FIX_CYCLES} without a fix")
        # Two clean cycles after them, and at least one shifted pulse.
        time.sleep(2 + SHIFT_EVERY)
        for attempt in range(1, 6):
            at_quarter_past()
            read_at = time.time_ns()
            seen, reads = views(control, config, port, daemon_path)
            if seen is not None:
                break
            log(f"reading the views, attempt {attempt}: (bad checksums, no fix, pulses "
                f"outside the window) changed between the reads: {reads}; again")
        check(seen is not None, "the views disagreed in each of 5 attempts (control "
              f"socket, status --json, /metrics, control socket): {reads}")
        shifted = shifted_pulses(trace, read_at)
        check(daemon.running(), f"the daemon exited with {daemon.poll()}")
        daemon.stop()
        output = daemon.output()
        cycles_written = list(receiver.cycles)
    finally:
        receiver.stop()

    reports = fake_receiver.sanitizer_reports(output)
    check(not reports, f"sanitizer or crash output: {reports[:5]}")
    expected = {
        ("gps", "sentences", "bad_checksum"): BAD_CYCLES * SENTENCES_PER_CYCLE,
        ("gps", "cycles", "no_fix"): NO_FIX_CYCLES,
        ("pps", "pulses", "outside_window"): shifted,
    }
    log(f"the emulator's trace: {shifted} pulses 0.5 s off fetched")
    gps_counters = seen["control socket"][0]
    log(f"gps cycles by outcome: {gps_counters.get('cycles')}; written: " + ", ".join(
        f"{r.index} ({r.label or 'clean'}, max gap {r.max_gap_ns / 1e6:.1f} ms)"
        for r in cycles_written))
    check(shifted >= 1, "no shifted pulse was fetched")
    failures = []
    for view, (gps, pps) in seen.items():
        for (refclock, group, key), want in expected.items():
            counters = gps if refclock == "gps" else pps
            got = (counters.get(group) or {}).get(key)
            log(f"{view}: {refclock} {group}.{key} = {got} (injected {want})")
            if key == "no_fix" and got is not None and want < got <= want + split:
                log(f"  excused: {split} of the no-fix cycles written with a "
                    "mid-cycle stall the line went quiet in, or in a machine "
                    "stall")
                continue
            if got != want:
                failures.append(f"{view}: {refclock} {group}.{key} = {got}, "
                                f"injected {want}")
    if failures:
        raise Fail(f"{len(failures)} wrong count(s): " + "; ".join(failures))


if __name__ == "__main__":
    harness.main("counters", body, timeout=100)
