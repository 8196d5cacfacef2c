#!/usr/bin/python3
"""`shmrefclock status` against NTPsec's ntptime and an independent SHM reader.

Kernel part: both programs read the same kernel state with ntp_adjtime(2),
modes 0 (ntptime only reads when given no setting option; the harness has
dropped CAP_SYS_TIME anyway). The state is KERNEL, set for both by the clock
emulator (tests/README.md, "The kernel clock state"): a leap second armed,
an offset and a frequency, whatever this machine's kernel says; precision
and tolerance are the machine's own. Between two `status --json` readings A and B we
run `ntptime -j` and `status` (text) and require, for each:

- status bits (the number, and the names, which this test derives from the
  number with its own table of the kernel's STA_ values), the clock states
  of ntp_adjtime and ntp_gettime, time constant, precision, tolerance and
  TAI offset: equal to A and B;
- offset and frequency: equal, at ntptime's printed resolution (offset in us
  with 3 decimals, frequency in ppm with 3 decimals; ours: ns and ppm);
- maxerror: between A and B. The kernel adds MAXFREQ / 1000 = 500 us to
  maxerror once a second (second_overflow(), kernel/time/ntp.c; capped at
  NTP_PHASE_LIMIT = 16 s, where it sits on an unsynchronized clock), so a
  reading taken between two others lies between them; and B - A is at most
  500 us per started second of elapsed time.
A time daemon on the host may change these between two readings; then A and
B differ, and the round is repeated (up to ROUNDS times).

Refclock part: our daemon runs the off-by-one system refclock on unit 2 (in
this test's IPC namespace); `status -c CONF` must show its segment (owner,
mode, attach count as IPC_STAT reports them to this test's own ctypes
reader) and its current sample: clock - receive exactly -1.000000000 s,
valid, leap 0, the configured precision, and an age under the interval.
A configured unit nobody created shows "no segment"; an absent SOCK path is
reported. After the daemon stops, the sample is shown withdrawn (valid 0).
"""

import json
import os
import pathlib
import re
import time

import harness
from harness import Fail, Skip, check, log

UNIT = 2
ABSENT_UNIT = 7
OFFSET = -1.0
PRECISION = -20
ROUNDS = 5
# Synchronized with a leap second armed, an offset of -12 us and +10 ppm.
KERNEL = ("status=PLL|INS,maxerror=123456,esterror=789,offset=-12,"
          "freq=655360,constant=7,tai=37")
MAXERROR_GROWTH_US_PER_S = 500  # MAXFREQ / NSEC_PER_USEC in the kernel

# include/uapi/linux/timex.h
STA_BITS = {
    0x0001: "PLL", 0x0002: "PPSFREQ", 0x0004: "PPSTIME", 0x0008: "FLL",
    0x0010: "INS", 0x0020: "DEL", 0x0040: "UNSYNC", 0x0080: "FREQHOLD",
    0x0100: "PPSSIGNAL", 0x0200: "PPSJITTER", 0x0400: "PPSWANDER",
    0x0800: "PPSERROR", 0x1000: "CLOCKERR", 0x2000: "NANO", 0x4000: "MODE",
    0x8000: "CLK",
}
STATES = ["OK", "INS", "DEL", "OOP", "WAIT", "ERROR"]


def ntptime_binary():
    root = os.environ.get("NTPSEC_ROOT")
    if not root:
        raise Skip("NTPSEC_ROOT is unset (run tests/integration/"
                   "fetch-ntpsec.sh DESTDIR and set NTPSEC_ROOT=DESTDIR)")
    path = pathlib.Path(root) / "usr" / "sbin" / "ntptime"
    check(path.is_file() and os.access(path, os.X_OK),
          f"{path} is missing although NTPSEC_ROOT={root} is set "
          "(fetch-ntpsec.sh unpacks it)")
    return path


def bit_names(status):
    return [name for mask, name in sorted(STA_BITS.items()) if status & mask]


def run_ntptime(ctx, ntptime):
    """ntptime -j (read-only: -j only selects JSON output). Its document
    repeats maximum-error/estimated-error (ntp_gettime's, then
    ntp_adjtime's): keep the last, ntp_adjtime's, and the first separately."""
    done = ctx.run("ntptime", [ntptime, "-j"], timeout=10,
                   env=harness.clock_env(ntptime, state=KERNEL))
    check(done.returncode == 0, f"ntptime -j failed: {done.stderr.strip()}")
    pairs = json.loads(done.stdout, object_pairs_hook=lambda p: p)
    doc = {}
    for key, value in pairs:
        if key in doc and key in ("maximum-error", "estimated-error"):
            doc["gettime-" + key] = doc[key]
        doc[key] = value
    match = re.fullmatch(r"0x([0-9a-f]+) \(([A-Z,]*)\)", doc["status"])
    check(match is not None, f"unexpected ntptime status {doc['status']!r}")
    doc["status-value"] = int(match.group(1), 16)
    doc["status-names"] = [n for n in match.group(2).split(",") if n]
    return doc


def run_status(ctx, binary, *args, name="status"):
    done = ctx.run(name, [binary, "status", *args], timeout=10,
                   env=harness.clock_env(binary, state=KERNEL))
    check(done.returncode == 0,
          f"shmrefclock status {' '.join(map(str, args))} exited {done.returncode}: "
          f"{done.stderr.strip()}")
    return done.stdout


def parse_text(text):
    """'  label   value' lines of the kernel section of our text output (after
    the line about the daemon; the leap-second list and the refclocks
    follow)."""
    fields = {}
    lines = text.splitlines()
    start = lines.index("kernel clock (ntp_adjtime, read-only)")
    for number, line in enumerate(lines[start:]):
        if number > 0 and not line.startswith(" "):
            break
        match = re.fullmatch(r"  (\S.{0,13}?)\s{2,}(.*)", line)
        if match:
            fields[match.group(1)] = match.group(2)
    return fields


def compare_kernel(ctx, binary, ntptime, status_conf):
    """One round; a list of differences, or None if the kernel state moved."""
    a = json.loads(run_status(ctx, binary, "-c", status_conf, "--json"))
    a_time = time.monotonic()
    nt = run_ntptime(ctx, ntptime)
    text = parse_text(run_status(ctx, binary, "-c", status_conf))
    b = json.loads(run_status(ctx, binary, "-c", status_conf, "--json"))
    elapsed = time.monotonic() - a_time
    ka, kb = a["kernel"], b["kernel"]
    for key in ("status", "offset_ns", "freq", "state_code",
                "gettime_state_code", "constant", "tai_offset_s"):
        if ka[key] != kb[key]:
            log(f"kernel {key} changed between readings ({ka[key]} -> "
                f"{kb[key]}): another round")
            return None
    if not ka["maxerror_us"] <= kb["maxerror_us"]:
        log("maxerror went down (a time daemon set it): another round")
        return None

    log(f"ours:    state {ka['state']}, status {ka['status_hex']} "
        f"{ka['status_bits']}, offset {ka['offset_ns']} ns, frequency "
        f"{ka['frequency_ppm']} ppm, maxerror {ka['maxerror_us']}.."
        f"{kb['maxerror_us']} us (over {elapsed:.3f} s)")
    log(f"ntptime: adjtime {nt['adjtime-code']} ({nt['adjtime-status']}), "
        f"status {nt['status']}, offset {nt['offset']} us, frequency "
        f"{nt['frequency']} ppm, maxerror {nt['maximum-error']} us")
    diffs = []

    def same(what, ours, theirs):
        if ours != theirs:
            diffs.append(f"{what}: ours {ours!r}, ntptime {theirs!r}")

    # Status bits: the number, and names derived independently from it.
    same("status bits", ka["status"], nt["status-value"])
    same("status bit names", ka["status_bits"],
         ["STA_" + n for n in bit_names(nt["status-value"])])
    same("status bit names (ntptime's)", ka["status_bits"],
         ["STA_" + n for n in nt["status-names"]])
    same("ntp_adjtime state", ka["state_code"], nt["adjtime-code"])
    same("ntp_adjtime state name", ka["state"],
         "TIME_" + STATES[nt["adjtime-code"]])
    same("ntp_gettime state", ka["gettime_state_code"], nt["gettime-code"])
    # ntptime: offset in us (from ns) to 3 decimals, frequency in ppm to 3.
    same("offset", f"{ka['offset_ns'] / 1000:.3f}", f"{nt['offset']:.3f}")
    same("frequency", f"{ka['frequency_ppm']:.3f}", f"{nt['frequency']:.3f}")
    same("time constant", ka["constant"], nt["time-constant"])
    same("precision (us)", float(ka["precision_us"]), float(nt["precision"]))
    same("tolerance (ppm)", round(ka["tolerance_ppm"]), round(nt["tolerance"]))
    same("TAI offset", ka["tai_offset_s"], nt["TAI-offset"])

    growth_limit = MAXERROR_GROWTH_US_PER_S * (int(elapsed) + 1)
    if kb["maxerror_us"] - ka["maxerror_us"] > growth_limit:
        diffs.append(f"maxerror grew {kb['maxerror_us'] - ka['maxerror_us']} "
                     f"us in {elapsed:.3f} s, more than {growth_limit}")
    for who, value in (("ntptime", nt["maximum-error"]),
                       ("ntptime (ntp_gettime)", nt["gettime-maximum-error"])):
        if not ka["maxerror_us"] <= value <= kb["maxerror_us"]:
            diffs.append(f"maxerror: {who} {value} us, ours "
                         f"{ka['maxerror_us']}..{kb['maxerror_us']}")

    # Our text output says the same as our JSON.
    log(f"ours (text): status {text.get('status')!r}, offset "
        f"{text.get('offset')!r}, frequency {text.get('frequency')!r}, "
        f"maxerror {text.get('maxerror')!r}")
    same("text status", text.get("status"),
         f"{ka['status_hex']} " + (" ".join(ka["status_bits"]) or "(none)"))
    same("text offset", text.get("offset"), f"{ka['offset_ns']:+d} ns")
    # The kernel's raw freq is ppm * 65536.
    same("text frequency", text.get("frequency"),
         f"{ka['freq'] / 65536:+.6f} ppm")
    maxerror = re.fullmatch(r"(\d+) us", text.get("maxerror", ""))
    if maxerror is None or not (ka["maxerror_us"] <= int(maxerror.group(1))
                                <= kb["maxerror_us"]):
        diffs.append(f"text maxerror {text.get('maxerror')!r}, JSON "
                     f"{ka['maxerror_us']}..{kb['maxerror_us']}")
    same("text state", text.get("state", "").split(" ")[0],
         "TIME_" + STATES[nt["adjtime-code"]])
    return diffs


def body(ctx):
    ntptime = ntptime_binary()
    binary = harness.daemon_binary()

    daemon_conf = ctx.write("shmrefclock.conf", f"""\
[[refclock]]
name = "off-by-one"
source = "system"
unit = {UNIT}
offset = {OFFSET!r}
precision = {PRECISION}
interval = 1.0
""")
    absent_sock = ctx.path("no-chronyd.sock")
    # What `status` reads: the daemon's refclock, plus a unit and a SOCK
    # path that nothing provides.
    status_conf = ctx.write("status.conf", f"""\
[[refclock]]
name = "off-by-one"
source = "system"
unit = {UNIT}
offset = {OFFSET!r}
precision = {PRECISION}

[[refclock]]
name = "nobody"
source = "system"
unit = {ABSENT_UNIT}
sock = "{absent_sock}"
""")

    # Usage and configuration errors: exit codes 2 and 1, nothing on stdout.
    done = ctx.run("status-usage", [binary, "status", "--bogus"], timeout=10)
    check(done.returncode == 2, f"status --bogus exited {done.returncode}")
    missing = ctx.path("missing.conf")
    done = ctx.run("status-missing", [binary, "status", "-c", missing],
                   timeout=10)
    check(done.returncode == 1 and done.stdout == "" and
          str(missing) in done.stderr,
          f"status -c {missing} exited {done.returncode}, stdout "
          f"{done.stdout!r}, stderr {done.stderr!r}")

    # --- kernel state against ntptime ------------------------------------
    for round_number in range(1, ROUNDS + 1):
        diffs = compare_kernel(ctx, binary, ntptime, status_conf)
        if diffs is not None:
            break
        time.sleep(0.2)
    else:
        raise Fail(f"the kernel state kept changing over {ROUNDS} rounds")
    if diffs:
        raise Fail("status and ntptime disagree: " + "; ".join(diffs))
    log(f"kernel state agrees with ntptime (round {round_number})")

    # --- refclocks -------------------------------------------------------
    daemon, _ = ctx.start_daemon(daemon_conf, UNIT)
    # This test's reader is detached while `status` runs, so that the
    # segment's attach count is the daemon's alone.
    with harness.ShmReader(UNIT) as reader:
        before = reader.read()
    info = harness.segment_info(UNIT)
    doc = json.loads(run_status(ctx, binary, "-c", status_conf, "--json"))
    text = run_status(ctx, binary, "-c", status_conf, name="status-text")
    with harness.ShmReader(UNIT) as reader:
        after = reader.read()
    log(f"segment (IPC_STAT by this test): {info}")
    log(f"samples read by this test around `status`: {before} / {after}")
    log("status text:\n" + text.rstrip())
    check(doc["config"] == str(status_conf), f"config {doc['config']!r}")
    refclocks = {rc["name"]: rc for rc in doc["refclocks"]}
    check(set(refclocks) == {"off-by-one", "nobody"},
          f"refclocks {sorted(refclocks)}")

    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: {got!r}, expected {want!r}")

    rc = refclocks["off-by-one"]
    expect("source", rc["source"], "system")
    expect("unit", rc["unit"], UNIT)
    expect("key", rc["key"], f"{harness.shm_key(UNIT):#010x}")
    expect("sock", rc["sock"], None)
    expect("problem", rc["problem"], None)
    seg = rc["segment"]
    check(seg is not None, "unit 2: no segment in status")
    expect("segment shmid", seg["shmid"], info.shmid)
    expect("segment owner", seg["uid"], info.uid)
    expect("segment owner is us", seg["uid"], os.geteuid())
    expect("segment creator", seg["cuid"], info.cuid)
    expect("segment mode", seg["mode"], f"{info.mode:04o}")
    expect("segment mode is the default perm", seg["mode"], "0600")
    expect("segment size", seg["size"], harness.SHM_SIZE)
    # The daemon's attachment only: status takes IPC_STAT before it attaches.
    expect("attach count", seg["nattch"], info.nattch)
    expect("attach count is the daemon's", seg["nattch"], 1)

    sample = rc["sample"]
    check(sample is not None, "unit 2: no sample in status")
    expect("valid", sample["valid"], 1)
    expect("mode", sample["mode"], 1)
    expect("leap", sample["leap"], 0)
    expect("precision", sample["precision"], PRECISION)
    expect("clock - receive", sample["clock_minus_receive"], OFFSET)
    clock_ns = sample["clock_sec"] * 10**9 + sample["clock_nsec"]
    receive_ns = sample["receive_sec"] * 10**9 + sample["receive_nsec"]
    expect("clock - receive (ns)", clock_ns - receive_ns, int(OFFSET * 1e9))
    # The sample status saw is the one this test saw before or after it.
    if not before.count <= sample["count"] <= after.count:
        failures.append(f"count {sample['count']} not in {before.count}.."
                        f"{after.count}")
    seen = {s.count: s for s in (before, after)}
    if sample["count"] in seen:
        expect("receive time", receive_ns, seen[sample["count"]].receive_ns)
    if not 0 <= sample["age"] < 1.5:
        failures.append(f"age {sample['age']} s, expected within the 1 s "
                        "interval (+0.5 s)")
    now = doc["now"]
    log(f"status read at {now}; sample age {sample['age']:.6f} s")

    for line in ("  clock-receive  -1.000000000 s",
                 f"  SHM unit       {UNIT} (key {harness.shm_key(UNIT):#010x})",
                 f"  segment        shmid {info.shmid}, owner uid {info.uid}, "
                 f"creator uid {info.cuid}, mode {info.mode:04o}, 96 bytes, "
                 f"{info.nattch} attached",
                 "  leap           0 (none)",
                 f"  precision      {PRECISION}"):
        if line not in text.splitlines():
            failures.append(f"text lacks {line!r}")
    if not re.search(r"^  sample         valid, count \d+, mode 1$", text,
                     re.MULTILINE):
        failures.append("text lacks the valid sample line")

    nobody = refclocks["nobody"]
    expect("absent unit", nobody["unit"], ABSENT_UNIT)
    expect("absent segment", nobody["segment"], None)
    expect("absent sample", nobody["sample"], None)
    check(harness.segment_info(ABSENT_UNIT) is None,
          "status created the absent unit's segment")
    expect("sock", nobody["sock"], str(absent_sock))
    if "No such file or directory" not in (nobody["sock_problem"] or ""):
        failures.append(f"sock_problem {nobody['sock_problem']!r}")
    if "  segment        no segment" not in text.splitlines():
        failures.append("text lacks 'no segment' for the absent unit")

    # The daemon stops: it clears valid and detaches; status shows that.
    daemon.stop()
    doc = json.loads(run_status(ctx, binary, "-c", status_conf, "--json",
                                name="status-stopped"))
    rc = {r["name"]: r for r in doc["refclocks"]}["off-by-one"]
    expect("valid after the daemon stopped", rc["sample"]["valid"], 0)
    expect("attach count after the daemon stopped", rc["segment"]["nattch"],
           harness.segment_info(UNIT).nattch)
    expect("attach count after the daemon stopped is 0",
           rc["segment"]["nattch"], 0)

    if failures:
        raise Fail("; ".join(failures))


if __name__ == "__main__":
    harness.main("status", body, timeout=50)
