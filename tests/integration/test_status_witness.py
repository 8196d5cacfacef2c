#!/usr/bin/python3
"""`status` shows the kernel witness's verdict, and the daemon logs when the
kernel's STA_INS/STA_DEL disagree with the leap-second list (issue 8,
Done-when 5), with an emulated kernel clock (tests/clock-emulator: the
ntp_adjtime family answers what this test writes; the machine's clock is
never touched).

Witness part: the daemon runs three system refclocks in this test's IPC
namespace: unit 4 one second behind the system clock (offset -1.0), units 5
(offset 0.0) and 6 (offset -1.0). `status` reads them through a
configuration that calls them nmea refclocks (the daemon applies the
witness to nmea refclocks; status never opens a device), unit 6 with
`witness = false`. Under each emulated kernel state, checked in the text
and the JSON:
  synchronized, maxerror 10 ms:  active, bound 0.510 s; unit 4 disagrees,
                                 unit 5 agrees, unit 6 is off;
  synchronized, maxerror 600 ms: bound 1.100 s: unit 4 now agrees;
  STA_UNSYNC:                    inactive (receivers believed), no verdict
                                 but "no witness" (unit 6: off);
  STA_CLOCKERR (TIME_ERROR):     inactive, saying TIME_ERROR.
The bound is computed here as maxerror + 0.5 s (docs/design.md, "Evidence
for a receiver's time"); the differences from the offsets configured here.

Leap part: the daemon (leap-seconds = "": it announces nothing) runs with
an emulated kernel that has STA_INS armed: it logs the disagreement once
(not once per sample), and when the test clears STA_INS it logs that they
agree again.
"""

import json
import os
import re
import sys
import time

import harness
from harness import Fail, check, log
from test_witness import clock_emulator

LATE, GOOD, UNWITNESSED = 4, 5, 6
MARGIN_NS = 500_000_000
# How often the daemon reads the kernel's leap bits at most (documented in
# shmrefclock.conf(5)).
KERNEL_CHECK_S = 10  # docs/design.md: the bound is maxerror + 0.5 s
CASES = [
    # label, emulated state, maxerror (us) or None when unsynchronized,
    # what the reason must say
    ("sync-10ms", "status=STA_PLL|STA_NANO maxerror=10000", 10000, "TIME_OK"),
    ("sync-600ms", "status=STA_PLL|STA_NANO maxerror=600000", 600000,
     "TIME_OK"),
    ("unsync", "status=STA_UNSYNC maxerror=16000000", None, "STA_UNSYNC set"),
    ("clockerr", "status=STA_PLL|STA_CLOCKERR maxerror=10000", None,
     "state TIME_ERROR"),
]
OFFSETS = {LATE: -1.0, GOOD: 0.0, UNWITNESSED: -1.0}


def fields(text, section):
    """The '  label  value' lines of one section of the text output; a
    label may repeat (one 'witness' line per refclock): lists."""
    out = {}
    inside = False
    for line in text.splitlines():
        if not line.startswith(" "):
            inside = line.startswith(section)
            continue
        if inside:
            match = re.fullmatch(r"  (\S.{0,13}?)\s{2,}(.*)", line)
            if match:
                out.setdefault(match.group(1), []).append(match.group(2))
    return out


def witness_part(ctx, binary, emulator):
    daemon_conf = ctx.write("daemon.conf", "".join(f"""\
[[refclock]]
name = "sys{unit}"
source = "system"
unit = {unit}
offset = {offset!r}
interval = 0.5
""" for unit, offset in OFFSETS.items()))
    status_conf = ctx.write("status.conf", f"""\
[[refclock]]
name = "late"
source = "nmea"
device = "/dev/null"
unit = {LATE}

[[refclock]]
name = "good"
source = "nmea"
device = "/dev/null"
unit = {GOOD}

[[refclock]]
name = "unwitnessed"
source = "nmea"
device = "/dev/null"
unit = {UNWITNESSED}
witness = false
""")
    daemon, _ = ctx.start_daemon(daemon_conf, LATE)
    for unit in (GOOD, UNWITNESSED):
        harness.wait_for_valid_sample(unit, 10, watch=[daemon])

    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: {got!r}, expected {want!r}")

    for label, state, maxerror_us, reason in CASES:
        env = dict(os.environ, LD_PRELOAD=harness.preload(binary, emulator),
                   SHMREFCLOCK_CLOCK_STATE=state)
        env.pop("SHMREFCLOCK_CLOCK_FILE", None)
        done = ctx.run(f"status-{label}-json",
                       [binary, "status", "-c", status_conf, "--json"],
                       timeout=10, env=env)
        check(done.returncode == 0 and not done.stderr.strip(),
              f"{label}: status --json exited {done.returncode}: "
              f"{done.stderr.strip()}")
        doc = json.loads(done.stdout)
        text_run = ctx.run(f"status-{label}",
                           [binary, "status", "-c", status_conf],
                           timeout=10, env=env)
        check(text_run.returncode == 0, f"{label}: status exited "
              f"{text_run.returncode}: {text_run.stderr.strip()}")
        text = text_run.stdout
        log(f"{label}: kernel {doc['kernel']['state']} "
            f"{doc['kernel']['status_bits']} maxerror "
            f"{doc['kernel']['maxerror_us']} us; witness {doc['witness']}")
        # The emulator took: status's own kernel section shows the state.
        expect(f"{label}: emulated maxerror", doc["kernel"]["maxerror_us"],
               maxerror_us if maxerror_us is not None
               else int(re.search(r"maxerror=(\d+)", state).group(1)))

        witness = doc["witness"]
        expect(f"{label}: computed_by", witness["computed_by"], "status")
        expect(f"{label}: active", witness["active"], maxerror_us is not None)
        if reason not in witness["reason"]:
            failures.append(f"{label}: reason {witness['reason']!r} lacks "
                            f"{reason!r}")
        expect(f"{label}: disabled", witness["disabled"], ["unwitnessed"])
        section = fields(text, "kernel witness")
        if "not the daemon's own" not in text:
            failures.append(f"{label}: the text does not say status computed "
                            "the verdict")
        line = (section.get("witness") or [""])[0]
        if maxerror_us is not None:
            bound_ns = maxerror_us * 1000 + MARGIN_NS
            expect(f"{label}: bound_ns", witness["bound_ns"], bound_ns)
            if not line.startswith("active: ") or \
                    f"bound {bound_ns / 1e9:.3f} s" not in line:
                failures.append(f"{label}: text witness line {line!r}")
        elif not (line.startswith("inactive: ") and reason in line
                  and "believed" in line):
            failures.append(f"{label}: text witness line {line!r}")
        if section.get("disabled") != ['witness = false on "unwitnessed"']:
            failures.append(f"{label}: text disabled {section.get('disabled')}")

        refclocks = {rc["name"]: rc for rc in doc["refclocks"]}
        for name, unit in (("late", LATE), ("good", GOOD),
                           ("unwitnessed", UNWITNESSED)):
            rc = refclocks[name]
            verdict = rc["witness"]["verdict"]
            check(verdict is not None and rc["sample"]["valid"] == 1,
                  f"{label}: {name}: no verdict on a valid sample: {rc}")
            want_ns = int(OFFSETS[unit] * 1e9)
            expect(f"{label}: {name} difference_ns", verdict["difference_ns"],
                   want_ns)
            if unit == UNWITNESSED:
                kind = "off"
            elif maxerror_us is None:
                kind = "no_witness"
            else:
                kind = ("disagree" if abs(want_ns) > maxerror_us * 1000 +
                        MARGIN_NS else "agree")
            expect(f"{label}: {name} verdict", verdict["kind"], kind)
            expect(f"{label}: {name} enabled", rc["witness"]["enabled"],
                   unit != UNWITNESSED)
        # The text: one witness line per refclock, in configuration order.
        lines = [line for line in text.splitlines()
                 if line.startswith("  witness        ")][1:]
        log(f"{label}: " + " | ".join(lines))
        want_words = {"agree": "agrees: ", "disagree": "DISAGREES: ",
                      "no_witness": "no witness ", "off": "off "}
        for line, name in zip(lines, ("late", "good", "unwitnessed")):
            kind = refclocks[name]["witness"]["verdict"]["kind"]
            diff = OFFSETS[{"late": LATE, "good": GOOD,
                            "unwitnessed": UNWITNESSED}[name]]
            side = "behind" if diff < 0 else "ahead of"
            if not line[17:].startswith(want_words[kind]) or \
                    f"{abs(diff):.3f} s {side}" not in line:
                failures.append(f"{label}: {name}: text {line!r}")
        if len(lines) != 3:
            failures.append(f"{label}: {len(lines)} refclock witness lines")
    daemon.stop()
    if failures:
        raise Fail("; ".join(failures))


def leap_part(ctx, binary, emulator):
    state_file = ctx.write("kernel-clock",
                           "status=STA_PLL|STA_NANO|STA_INS maxerror=10000\n")
    conf = ctx.write("leap.conf", """\
[daemon]
leap-seconds = ""

[[refclock]]
name = "sys"
source = "system"
unit = 7
interval = 0.5
""")
    env = dict(os.environ, LD_PRELOAD=harness.preload(binary, emulator),
               SHMREFCLOCK_CLOCK_FILE=str(state_file))
    env.pop("SHMREFCLOCK_CLOCK_STATE", None)
    daemon = ctx.start("daemon-leap", [binary, "-c", conf], env=env)
    pattern = "kernel leap state and the leap-second list"
    try:
        harness.wait_until(lambda: pattern in daemon.output(), 10,
                           "the disagreement in the log", watch=[daemon])
        # Published for longer than the daemon's kernel read period (10 s,
        # LeapList::kernel_check_every_ns), so that the kernel is read
        # again while it still disagrees: still one warning.
        first = harness.wait_for_valid_sample(7, 5, watch=[daemon])
        time.sleep(KERNEL_CHECK_S + 1.5)
        later = harness.wait_for_valid_sample(7, 5, watch=[daemon],
                                              newer_than=first)
        check(later.leap == 0, f"the daemon followed the kernel: {later}")
        new = ctx.write("kernel-clock.new",
                        "status=STA_PLL|STA_NANO maxerror=10000\n")
        new.rename(state_file)
        # Read again within 10 s.
        harness.wait_until(lambda: "agrees with the leap-second list" in
                           daemon.output(), KERNEL_CHECK_S + 5,
                           "the agreement in the log",
                           watch=[daemon])
    finally:
        daemon.stop()
    output = daemon.output()
    warned = [line for line in output.splitlines() if pattern in line]
    log(f"leap: {warned}")
    check(len(warned) == 1, f"{len(warned)} disagreement lines: {warned}")
    check("the kernel has an insertion armed" in warned[0] and
          "announces no leap second" in warned[0] and "warn" in warned[0],
          f"the disagreement line does not say what differs: {warned[0]}")
    agreed = [line for line in output.splitlines()
              if "agrees with the leap-second list" in line]
    check(len(agreed) == 1, f"{len(agreed)} agreement lines: {agreed}")


def body(ctx):
    binary = harness.daemon_binary()
    emulator = clock_emulator()
    part = os.environ.get("STATUS_WITNESS_PART", "all")
    if part in ("all", "witness"):
        witness_part(ctx, binary, emulator)
    if part in ("all", "leap"):
        leap_part(ctx, binary, emulator)


if __name__ == "__main__":
    if len(sys.argv) == 2:
        os.environ["STATUS_WITNESS_PART"] = sys.argv[1]
    harness.main("status_witness", body, timeout=100)
