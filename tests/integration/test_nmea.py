#!/usr/bin/python3
"""source = "nmea" fed by fake receivers (fake_receiver.py) over ptys paced
at 9600 baud and over TCP.

One daemon, three refclocks, min-fixes = 3:

- unit 0: a pty; each cycle starts at the UTC second it reports; offset 0.
- unit 1: a pty; each cycle starts 0.25 s after its second (as many
  receivers do); offset = 0.25, so reference - receive is ~0 again.
- unit 2: tcp://127.0.0.1:PORT, cycles at the second; offset 0.

A thread reads each segment every 20 ms. Checked, from what the receivers
wrote (never from the daemon's output):

- every valid sample's reference time is exactly the second its cycle
  reported plus the configured offset (to the nanosecond), and its receive
  time is within the first-byte bound (fake_receiver.max_first_byte_latency_ns)
  after the cycle's first byte was written;
- the first sample is the min-fixes-th cycle that began after the daemon
  opened the device (pty: the master stops polling POLLHUP; tcp: accept);
- after that, every cycle is published (none skipped);
- the TCP refclock delivers samples too; when the receiver drops the
  connection, the daemon withdraws, reconnects and samples resume.

Then a second daemon with min-fixes = 1 is started in the middle of a
cycle's bytes (a receiver that sends RMC late in the cycle, so that the
part after the open has a valid time): that partial cycle has no good stamp
(its first byte was sent before the open) and must not be published; the
first sample is the next cycle, stamped at its first byte like every other.
"""

import time

import fake_receiver
import harness
from fake_receiver import NS, FakeReceiver, SegmentWatcher, toml_string
from harness import Fail, check, log

MIN_FIXES = 3
RUN_SECONDS = 10             # after the first samples


def refclock(name, receiver, unit, offset, min_fixes=MIN_FIXES):
    return {"name": toml_string(name), "source": '"nmea"',
            "device": toml_string(receiver.device), "baud": 9600,
            "unit": unit, "offset": repr(offset), "min-fixes": min_fixes}


def check_refclock(name, receiver, watcher, offset, opened_ns, stop_ns):
    """Problems found with one refclock's samples; logs what it measured."""
    samples, _ = watcher.snapshot()
    offset_ns = round(offset * NS)
    problems, good = fake_receiver.verify_samples(
            samples, receiver, offset_ns,
            fake_receiver.max_first_byte_latency_ns())
    problems = [f"{name}: {p}" for p in problems]
    if len(good) < 5:
        problems.append(f"{name}: only {len(good)} good samples")
        return problems
    latencies = [latency / 1e3 for _, _, latency in good]
    log(f"{name}: {len(good)} samples, receive stamp - first byte written: "
        f"median {fake_receiver.percentile(latencies, 0.5):.0f} us, max "
        f"{max(latencies):.0f} us; the fake's pacing: a byte at worst "
        f"{max(r.max_late_ns for r in receiver.cycles) / 1e3:.0f} us late, "
        f"{max(r.max_gap_ns for r in receiver.cycles) / 1e3:.0f} us at "
        "most between two")

    # The first sample: the min-fixes-th cycle begun after the open.
    after_open = [r for r in receiver.cycles if r.first_write_ns > opened_ns]
    first_record = good[0][1]
    expected = after_open[MIN_FIXES - 1]
    excused = fake_receiver.excused(receiver, MIN_FIXES)
    reported = fake_receiver.utc_text(first_record.reported)
    # An open shortly before a cycle's first byte cannot tell that byte from
    # the middle of a cycle: the daemon may rightly skip that cycle.
    margin = after_open[0].first_write_ns - opened_ns
    allowed = {expected.index}
    if margin < 100_000_000:
        allowed.add(expected.index + 1)
    log(f"{name}: opened {margin / 1e6:.0f} ms before a cycle; first sample "
        f"from cycle {first_record.index} ({reported}), expected cycle "
        f"{' or '.join(str(i) for i in sorted(allowed))}: min-fixes = "
        f"{MIN_FIXES} cycles begun after the open")
    if first_record.index not in allowed and not (
            excused & set(range(expected.index - MIN_FIXES,
                                expected.index + 1))):
        problems.append(f"{name}: first sample from cycle {first_record.index}"
                        f", expected cycle {expected.index} (min-fixes = "
                        f"{MIN_FIXES} after the open)")

    # None skipped afterwards (cycles that ended well before the end),
    # unless this process stalled mid-cycle (it shares the CPUs).
    published = {record.index for _, record, _ in good}
    missed = [r.index for r in receiver.cycles
              if r.index > first_record.index and r.end_ns < stop_ns - NS
              and r.index not in published and r.index not in excused]
    if missed:
        problems.append(f"{name}: cycles {missed} were not published")
    return problems


def body(ctx):
    harness.daemon_binary()
    pty0 = FakeReceiver(ctx.tmp, "gnss0").start()
    pty1 = FakeReceiver(ctx.tmp, "gnss1", delay=0.25).start()
    tcp2 = FakeReceiver(ctx.tmp, "gnss2", tcp=True).start()
    receivers = [pty0, pty1, tcp2]
    watchers = [SegmentWatcher(unit).start() for unit in (0, 1, 2)]
    try:
        config = fake_receiver.daemon_config(ctx, [
            refclock("gps", pty0, 0, 0.0),
            refclock("gps-late", pty1, 1, 0.25),
            refclock("gps-tcp", tcp2, 2, 0.0),
        ])
        # Started where all the receivers are quiet (cycles take +0 to +0.51
        # and +0.25 to +0.76 s), so that the devices open between cycles.
        now = fake_receiver.realtime_ns()
        fake_receiver.sleep_until((now // NS + 1) * NS + 800_000_000)
        daemon = ctx.start("shmrefclock",
                           [harness.daemon_binary(), "-c", config])
        opened = [r.wait_opened(5) for r in receivers]
        for unit in (0, 1, 2):
            sample = harness.wait_for_valid_sample(unit, MIN_FIXES + 4,
                                                   watch=[daemon])
            log(f"unit {unit}: first sample {sample}")
        time.sleep(RUN_SECONDS)
        check(daemon.running(), "the daemon exited")
        stop_ns = fake_receiver.realtime_ns()
        problems = []
        for (name, offset), receiver, watcher, opened_ns in zip(
                [("gps", 0.0), ("gps-late", 0.25), ("gps-tcp", 0.0)],
                receivers, watchers, opened):
            problems += check_refclock(name, receiver, watcher, offset,
                                       opened_ns, stop_ns)
        problems += tcp_reconnect(tcp2, watchers[2], daemon)
        daemon.stop()
        check(daemon.returncode == 0,
              f"the daemon exited with {daemon.returncode} on SIGTERM")
        reports = fake_receiver.sanitizer_reports(daemon.output())
        check(not reports, f"sanitizer or crash output: {reports[:5]}")
        if problems:
            raise Fail("\n  ".join([f"{len(problems)} problems:"] +
                                   problems[:20]))
    finally:
        for watcher in watchers:
            watcher.stop()
        pty1.stop()
        tcp2.stop()

    pty0.stop()
    with FakeReceiver(ctx.tmp, "gnss3", rmc_last=True) as sirf:
        mid_cycle_start(ctx, sirf)


def tcp_reconnect(receiver, watcher, daemon):
    """The TCP receiver drops the connection between cycles: the daemon
    withdraws, reconnects after its 1 s back-off, and samples resume."""
    last = receiver.wait_cycles(1)
    fake_receiver.sleep_until(last.boundary * NS + 700_000_000)
    receiver.drop_clients()
    dropped = receiver.closes[-1]
    connected = receiver.wait_opened(5, after_ns=dropped)
    observation = harness.wait_until(
        lambda: watcher.first_sample_after(dropped), MIN_FIXES + 20,
        "samples from the reconnected TCP refclock", interval=0.05,
        watch=[daemon])
    withdrawn = watcher.invalid_since(dropped)
    log(f"gps-tcp: connection dropped; valid = 0 seen "
        f"{(withdrawn - dropped) / 1e6 if withdrawn else float('nan'):.0f} ms "
        f"later, reconnected after {(connected - dropped) / 1e9:.3f} s, first "
        f"sample {(observation.sample.receive_ns - dropped) / 1e9:.3f} s after"
        " the drop")
    problems = []
    if withdrawn is None or withdrawn - dropped > 500_000_000:
        problems.append("gps-tcp: valid not cleared within 0.5 s of the "
                        "connection's end")
    if connected - dropped > 1_500_000_000:
        problems.append(f"gps-tcp: reconnected "
                        f"{(connected - dropped) / NS:.3f} s after the drop, "
                        "expected ~1 s")
    samples, _ = watcher.snapshot()
    more, _ = fake_receiver.verify_samples(
            samples, receiver, 0,
            fake_receiver.max_first_byte_latency_ns())
    return problems + [f"gps-tcp after reconnecting: {p}" for p in more]


def mid_cycle_start(ctx, receiver):
    """min-fixes = 1, the daemon opens the pty while a cycle is arriving. The
    receiver sends RMC, the sentence with the date, late in the cycle (SiRF
    order), so that the part of the cycle after the open has a valid time."""
    config = fake_receiver.daemon_config(
        ctx, [refclock("gps", receiver, 0, 0.0, min_fixes=1)],
        name="mid-cycle")
    watcher = SegmentWatcher(0).start()
    try:
        # 0.2 s into the next cycle's ~0.5 s of bytes; the daemon opens the
        # device a few ms after it starts.
        now = fake_receiver.realtime_ns()
        fake_receiver.sleep_until((now // NS + 1) * NS + 200_000_000)
        started_ns = fake_receiver.realtime_ns()
        daemon = ctx.start("shmrefclock-mid-cycle",
                           [harness.daemon_binary(), "-c", config])
        opened_ns = receiver.wait_opened(5, after_ns=started_ns)
        receiver.wait_cycles(4)
        check(daemon.running(), "the min-fixes = 1 daemon exited")
        daemon.stop()
        cycle = receiver.record_for(opened_ns)
        into = (opened_ns - cycle.first_write_ns) / 1e6
        mid = cycle.first_write_ns < opened_ns < cycle.end_ns
        log(f"min-fixes = 1: device opened {into:.0f} ms after cycle "
            f"{cycle.index}'s first byte ("
            + ("mid-cycle)" if mid else
               "between cycles: the case was not exercised)"))
        samples, _ = watcher.snapshot()
        samples = [s for s in samples if s.sample.receive_ns > started_ns]
        problems, good = fake_receiver.verify_samples(
            samples, receiver, 0,
            fake_receiver.max_first_byte_latency_ns())
        check(not problems, "min-fixes = 1 started mid-cycle:\n  " +
              "\n  ".join(problems))
        check(len(good) >= 2, f"min-fixes = 1: only {len(good)} samples")
        first = good[0][1]
        log(f"min-fixes = 1: first sample from cycle {first.index} "
            f"({fake_receiver.utc_text(first.reported)}), stamped "
            f"{good[0][2] / 1e3:.0f} us after its first byte")
        if mid and not fake_receiver.excused(receiver, 1):
            check(first.index == cycle.index + 1,
                  f"first sample from cycle {first.index}, expected the first"
                  f" whole cycle {cycle.index + 1}")
    finally:
        watcher.stop()


if __name__ == "__main__":
    harness.main("nmea", body, timeout=80)
