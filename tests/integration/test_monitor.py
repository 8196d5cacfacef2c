#!/usr/bin/python3
"""`shmrefclock monitor` against an independent reader (harness.ShmReader).

The daemon runs the "off-by-one" system source on unit 2: reference time =
CLOCK_REALTIME + OFFSET (OFFSET = -1.0 s), receive time = CLOCK_REALTIME.
While `shmrefclock monitor --units 2 --count 3 --json` runs, our ctypes
reader polls the segment every 10 ms and keeps every sample it sees, so that
each line the monitor prints is compared with our own read of the same
sample (same reference and receive time). Checked:

- the monitor prints 3 distinct samples, one per interval (none missed,
  none repeated), each equal field by field to ours;
- reference - receive = OFFSET within 1 ms (from the configuration, not
  from the daemon);
- the monitor maps the segment read-only (/proc/PID/maps: no 'w' on the
  SYSV mapping) and leaves `valid` set: right after it exits, the segment
  still holds the last sample it printed, with valid = 1.
(What the daemon does to the segment on SIGTERM is test_notify.py's.)
"""

import calendar
import json
import re
import time

import harness
from harness import check, log

UNIT = 2
OFFSET = -1.0          # configured: reference = system clock + OFFSET
INTERVAL = 1.0         # configured
TOLERANCE = 0.001      # 1 ms
COUNT = 3
NS = 1_000_000_000
ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z")


def iso_to_ns(text):
    """'2026-11-21T19:35:21.410040533Z' -> (ns, resolution in ns)."""
    match = ISO.fullmatch(text)
    check(match is not None, f"not an ISO 8601 UTC time: {text!r}")
    *fields, fraction = match.groups()
    seconds = calendar.timegm(tuple(int(f) for f in fields) + (0, 0, 0))
    fraction = fraction or ""
    digits = len(fraction)
    nanos = int(fraction.ljust(9, "0")[:9]) if digits else 0
    return seconds * NS + nanos, 10 ** max(0, 9 - digits)


def sysv_mapping_perms(pid, unit):
    """Permissions ('r--s', 'rw-s') of the process's mapping of the unit's
    segment, or None if it has none."""
    name = f"SYSV{harness.shm_key(unit):08x}"
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                if name in line:
                    return line.split()[1]
    except OSError:
        pass
    return None


def compare(line, ours):
    """Differences between one monitor JSON object and our Sample."""
    diffs = []
    expect = {
        "unit": UNIT, "clock_sec": ours.clock_sec,
        "clock_nsec": ours.clock_nsec, "receive_sec": ours.receive_sec,
        "receive_nsec": ours.receive_nsec, "leap": ours.leap,
        "precision": ours.precision, "mode": ours.mode, "count": ours.count,
        "valid": ours.valid,
    }
    for key, value in expect.items():
        if key in line and line[key] != value:
            diffs.append(f"{key}: monitor {line[key]!r}, ours {value!r}")
    for key in ("clock_sec", "clock_nsec", "receive_sec", "receive_nsec",
                "leap", "precision"):
        if key not in line:
            diffs.append(f"{key} missing")
    for key, ns in (("clock", ours.clock_ns), ("receive", ours.receive_ns)):
        if key in line:
            shown, resolution = iso_to_ns(line[key])
            if not 0 <= ns - shown < resolution:
                diffs.append(f"{key}: monitor {line[key]}, ours {ns} ns")
    if "clock_minus_receive" in line:
        if abs(line["clock_minus_receive"] - ours.offset) > 1e-9:
            diffs.append(f"clock_minus_receive: monitor "
                         f"{line['clock_minus_receive']!r}, ours "
                         f"{ours.offset:+.9f}")
    else:
        diffs.append("clock_minus_receive missing")
    return diffs


def run_monitor(ctx, binary, count, reader, seen):
    """Run the monitor while polling the segment; (JSON lines, exit code,
    sample in the segment right after the monitor exited, mapping perms)."""
    monitor = ctx.start("monitor", [binary, "monitor", "--units", str(UNIT),
                                    "--count", str(count), "--json"])
    perms = None
    deadline = time.monotonic() + count * INTERVAL + 10
    while monitor.poll() is None:
        check(time.monotonic() < deadline,
              f"monitor --count {count} still running after "
              f"{count * INTERVAL + 10:.0f} s")
        sample = reader.read()
        seen.setdefault(sample.key(), sample)
        perms = perms or sysv_mapping_perms(monitor.pid, UNIT)
        time.sleep(0.01)
    # Right away: the daemon's next write is ~1 s away. The monitor may
    # have read its last sample after our last poll: keep this one too.
    after = reader.read()
    seen.setdefault(after.key(), after)
    lines = [json.loads(text) for text in monitor.output().splitlines()
             if text.startswith("{")]
    return lines, monitor.returncode, after, perms


def body(ctx):
    binary = harness.daemon_binary()
    ctx.start_daemon(
        ctx.daemon_config(unit=UNIT, offset=OFFSET, interval=INTERVAL), UNIT)

    failures = []
    seen = {}  # sample key -> our Sample
    with harness.ShmReader(UNIT) as reader:
        lines, code, after, perms = run_monitor(ctx, binary, COUNT, reader,
                                                seen)
        log(f"monitor --count {COUNT} --json exit {code}, mapping {perms}:")
        for line in lines:
            log(f"    {json.dumps(line)}")
        check(code == 0, f"monitor exited {code}")
        if len(lines) != COUNT:
            failures.append(f"monitor printed {len(lines)} samples, "
                            f"expected {COUNT}")
        if perms is None:
            failures.append("could not see the monitor's SYSV mapping in "
                            "/proc/PID/maps")
        elif "w" in perms:
            failures.append(f"monitor maps the segment writable ({perms})")

        keys = []
        for line in lines:
            key = (line.get("clock_sec", 0) * NS + line.get("clock_nsec", 0),
                   line.get("receive_sec", 0) * NS +
                   line.get("receive_nsec", 0))
            keys.append(key)
            ours = seen.get(key)
            if ours is None:
                failures.append(f"our reader never saw the sample the "
                                f"monitor printed: {line}")
                continue
            diffs = compare(line, ours)
            error = ours.offset - OFFSET
            log(f"ours: {ours}\n    reference - receive {ours.offset:+.9f} s"
                f", expected {OFFSET:+.9f} (error {error * 1e9:+.0f} ns); "
                f"monitor {'differs' if diffs else 'agrees in every field'}")
            failures += [f"sample {key}: {d}" for d in diffs]
            if abs(error) > TOLERANCE:
                failures.append(f"reference - receive {ours.offset:+.9f}, "
                                f"expected {OFFSET:+.9f} +/- {TOLERANCE}")
            if ours.clock_usec != ours.clock_nsec // 1000 or \
                    ours.receive_usec != ours.receive_nsec // 1000:
                failures.append(f"USec is not NSec / 1000: {ours}")
        if len(set(keys)) != len(keys):
            failures.append("the monitor printed a sample twice")
        gaps = [(b[1] - a[1]) / NS for a, b in zip(keys, keys[1:])]
        log(f"receive-time gaps between the monitor's samples: "
            f"{[f'{g:.3f}' for g in gaps]} s (interval {INTERVAL})")
        if any(not 0.5 * INTERVAL <= g <= 1.5 * INTERVAL for g in gaps):
            failures.append(f"gaps {gaps}: the monitor missed or repeated "
                            "a sample")

        # valid: the last sample the monitor printed must still be there,
        # valid, once it has gone. If the daemon already replaced it (the
        # monitor took ~1 s to exit), the check says nothing: run again.
        attempts = 1
        while keys and after.key() != keys[-1] and attempts < 3:
            log("daemon wrote again before the check; monitor --count 1")
            more, code, after, _ = run_monitor(ctx, binary, 1, reader, seen)
            check(code == 0 and more, f"monitor --count 1 exited {code}")
            keys.append((more[-1]["clock_sec"] * NS + more[-1]["clock_nsec"],
                         more[-1]["receive_sec"] * NS +
                         more[-1]["receive_nsec"]))
            attempts += 1
        log(f"after the monitor exited: {after}")
        if keys and after.key() == keys[-1]:
            if after.valid != 1:
                failures.append(f"valid is {after.valid} after the monitor "
                                "read the sample: the monitor cleared it")
        elif keys:
            failures.append("could not check valid: the daemon kept writing "
                            "before the monitor exited")

    check(not failures, "; ".join(failures))


if __name__ == "__main__":
    harness.main("monitor", body, timeout=50)
