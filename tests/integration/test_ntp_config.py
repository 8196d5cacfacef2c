#!/usr/bin/python3
"""`shmrefclock ntp-config` read by the real NTP daemons (issue 23, item 7).

One case per run (argv[1]):

- chrony: for every shipped config (config/*.conf, config/examples/*.conf)
  `ntp-config --chrony -c F` exits 0 with one refclock line per
  [[refclock]] of F (counted here with tomllib), and the real `chronyd -p -f
  FILE` parses the output: exit 0, every refclock line echoed.
- ntpsec: the same configs' `--ntpsec` and `--ntpd` output, each read by
  NTPsec's ntpd as test_ntpsec.py runs it (-n -x, no clock discipline, no
  CAP_SYS_TIME): its log has no configuration error, and it attaches every
  SHM unit of F (the segment exists with ntpd attached); a unit of 2 or more
  it created 0600, as the `mode 1` the lines carry promises.
- live: a daemon running with its control socket in the temp dir and a fake
  receiver whose cycles start LATENCY after the second, with `offset =
  CONFIGURED` in its config. Before 30 cycles the lines say the latency is
  not measured and the offset is 0; after, the offset printed is the
  latency the receiver really had (its writes' true times: the machine's
  clock is the truth here) minus the configured offset, which shmrefclock
  adds itself. A sign flipped, the configured offset left out or added
  twice, are each 50 ms or more away.
- bad: a missing and a bad config exit 1 with the message --check-config
  prints; no reader, or two, exit 2; a control socket that accepts and never
  answers, or answers garbage, is no error (exit 0, the lines say why there
  is no measurement).
"""

import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import tomllib

import fake_receiver
import harness
from fake_receiver import NS, FakeReceiver, toml_string
from harness import Fail, check, log

LATENCY = 0.130
CONFIGURED = 0.05
TOLERANCE = 0.005
MIN_CYCLES = 30     # the daemon's own threshold for the arrival median
NTPD_ERRORS = re.compile(r"syntax error|parsing errors|CONFIG: .*(error|unknown|invalid)",
                         re.IGNORECASE)


def shipped_configs():
    src = harness.source_dir()
    configs = sorted((src / "config").glob("*.conf")) + sorted(
        (src / "config" / "examples").glob("*.conf"))
    check(len(configs) >= 4, f"only {len(configs)} shipped configs")
    return configs


def refclocks_of(path):
    return tomllib.loads(path.read_text())["refclock"]


def directives(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def ntp_config(ctx, name, flag, config, expect=0):
    done = ctx.run(name, [harness.daemon_binary(), "ntp-config", flag, "-c", config], 10)
    check(done.returncode == expect,
          f"ntp-config {flag} -c {config}: exit {done.returncode}, expected "
          f"{expect}\n{done.stdout}{done.stderr}")
    check("Sanitizer" not in done.stderr and "runtime error" not in done.stderr,
          f"ntp-config {flag} -c {config}: {done.stderr}")
    return done


def chronyd_parses(ctx, name, text):
    """`chronyd -p -f FILE`: exit 0 and each refclock line echoed."""
    chronyd = harness.require_program("/usr/sbin/chronyd", "chrony")
    conf = ctx.write(f"{name}.chrony.conf", text)
    done = ctx.run(f"{name}-chronyd", [chronyd, "-p", "-f", conf], 10)
    check(done.returncode == 0,
          f"chronyd -p refused {conf} (exit {done.returncode}): "
          f"{done.stderr.strip()}\n{text}")
    echoed = done.stdout.splitlines()
    for line in directives(text):
        check(line in echoed, f"chronyd -p did not echo {line!r}: {done.stdout}")


def case_chrony(ctx):
    for config in shipped_configs():
        refclocks = refclocks_of(config)
        done = ntp_config(ctx, config.stem, "--chrony", config)
        lines = directives(done.stdout)
        log(f"{config.name}: {lines}")
        check(len(lines) == len(refclocks) and
              all(line.startswith("refclock ") for line in lines),
              f"{config.name}: {len(refclocks)} refclocks, lines {lines}")
        for rc, line in zip(refclocks, lines):
            expected = (f"refclock SOCK {rc['sock']} " if "sock" in rc
                        else f"refclock SHM {rc['unit']} ")
            check(line.startswith(expected), f"{config.name}: {line!r} does not start "
                  f"with {expected!r}")
        check("no daemon answers" in done.stdout,
              f"{config.name}: no word of the daemon not running:\n{done.stdout}")
        chronyd_parses(ctx, config.stem, done.stdout)


def remove_segment(unit):
    subprocess.run(["ipcrm", "-M", hex(0x4E545030 + unit)], capture_output=True, check=False)


def ntpd_reads(ctx, name, text, units):
    """NTPsec's ntpd reads `text`: no configuration error, every unit
    attached; the segments are removed after it stopped."""
    from test_ntpsec import ntpd_binary
    for unit in units:
        remove_segment(unit)
    ntpd_log = ctx.path(f"{name}.ntpd.log")
    conf = ctx.write(f"{name}.ntp.conf", text + f"""
disable ntp
disable kernel
driftfile {ctx.path(f"{name}.drift")}
logfile {ntpd_log}
""")
    ntpd = ctx.start(f"{name}-ntpd", [ntpd_binary(), "-n", "-x", "-c", conf])
    try:
        for unit in units:
            info = harness.wait_until(
                lambda unit=unit: (lambda i: i if i and i.nattch > 0 else None)(
                    harness.segment_info(unit)),
                10, f"ntpd to attach unit {unit} ({name})", watch=[ntpd])
            log(f"{name}: unit {unit}: {info}")
            if unit >= 2:
                check(info.mode == 0o600, f"{name}: ntpd created unit {unit} "
                      f"{info.mode:04o}, not 0600 as `mode 1` asks")
    finally:
        ntpd.stop()
    text_log = ntpd_log.read_text() if ntpd_log.exists() else ""
    errors = [line for line in (text_log + ntpd.output()).splitlines()
              if NTPD_ERRORS.search(line)]
    check(not errors, f"{name}: ntpd reports configuration errors: {errors}\n{text}")
    for unit in units:
        remove_segment(unit)


def case_ntpsec(ctx):
    from test_ntpsec import ntpd_binary
    ntpd_binary()  # Skip without NTPSEC_ROOT
    for config in shipped_configs():
        refclocks = refclocks_of(config)
        units = [rc["unit"] for rc in refclocks if "unit" in rc]
        for flag in ("--ntpsec", "--ntpd"):
            done = ntp_config(ctx, config.stem, flag, config)
            lines = directives(done.stdout)
            log(f"{config.name} {flag}: {lines}")
            lead = "refclock shm unit" if flag == "--ntpsec" else "server 127.127.28."
            check(len([line for line in lines if line.startswith(lead)]) == len(units),
                  f"{config.name} {flag}: units {units}, lines {lines}")
            ntpd_reads(ctx, f"{config.stem}{flag}", done.stdout, units)


def offset_of(text, prefix):
    for line in directives(text):
        if line.startswith(prefix):
            found = re.search(r" offset ([-+]?\d+\.\d+)", line)
            check(found, f"no offset in {line!r}")
            return float(found.group(1))
    raise Fail(f"no line {prefix!r} in\n{text}")


def case_live(ctx):
    from test_control import ask
    daemon_path = harness.daemon_binary()
    receiver = FakeReceiver(ctx.tmp, "gnss0", delay=LATENCY).start()
    try:
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"', "device": toml_string(receiver.device),
             "baud": 9600, "unit": 0, "offset": str(CONFIGURED), "min-fixes": 2}],
            name="live", log_level="info")
        control = ctx.path("control")
        config.write_text(config.read_text().replace(
            "[daemon]\n", f"[daemon]\ncontrol = {toml_string(control)}\n", 1))
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        daemon = ctx.start("shmrefclock", [daemon_path, "-c", config], env=env)
        harness.wait_until(control.exists, 10, "the control socket", watch=[daemon])
        # Fewer than 30 cycles can have been published: a 1 Hz receiver
        # has not been running 30 s.
        early = ntp_config(ctx, "early", "--chrony", config).stdout
        log(early)
        check(f"pid {daemon.pid}" in early, f"the lines do not name the daemon:\n{early}")
        check("not measured: the running daemon has published fewer than 30 cycles" in early,
              f"no word of the latency not measured yet:\n{early}")
        check(offset_of(early, "refclock SHM 0 ") == 0.0, f"offset before measuring:\n{early}")

        def measured():
            gps = {r["name"]: r for r in ask(control)["refclocks"]}["gps"]
            arrival = gps.get("nmea_arrival") or {}
            return arrival.get("cycles", 0) >= MIN_CYCLES
        harness.wait_until(measured, 75, f"{MIN_CYCLES} cycles measured", interval=0.5,
                           watch=[daemon])
        chrony = ntp_config(ctx, "chrony", "--chrony", config).stdout
        ntpsec = ntp_config(ctx, "ntpsec", "--ntpsec", config).stdout
        ntpd = ntp_config(ctx, "ntpd", "--ntpd", config).stdout
        check(daemon.running(), f"the daemon exited with {daemon.poll()}")
        daemon.stop()
    finally:
        receiver.stop()
    log(chrony)
    written = [(r.first_write_ns - r.boundary * NS) / NS for r in receiver.cycles]
    latency = statistics.median(written)
    expected = latency - CONFIGURED
    log(f"receiver: {len(written)} cycles, first write {latency:.6f} s after the second "
        f"(median); expected reader offset {expected:.4f}")
    printed = {
        "chrony": offset_of(chrony, "refclock SHM 0 "),
        "ntpsec": float(re.search(r" time1 ([-+]?\d+\.\d+)", directives(ntpsec)[0]).group(1)),
        "ntpd": float(re.search(r" time1 ([-+]?\d+\.\d+)", directives(ntpd)[1]).group(1)),
    }
    for reader, value in printed.items():
        check(abs(value - expected) <= TOLERANCE,
              f"{reader}: offset {value}, expected {expected:.4f} +/- {TOLERANCE} "
              f"(latency {latency:.4f} minus the configured {CONFIGURED})")
    check("by the system clock" in chrony, f"no word of how it was measured:\n{chrony}")
    chronyd_parses(ctx, "live", chrony)


class Server(threading.Thread):
    """A Unix socket at `path` that accepts and then answers `reply` (None:
    never answers, keeping the connection open)."""

    def __init__(self, path, reply):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.reply = reply
        self.held = []
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.recv(64)
            if self.reply is None:
                self.held.append(conn)
                continue
            conn.sendall(self.reply)
            conn.close()


def case_bad(ctx):
    binary = harness.daemon_binary()
    src = harness.source_dir()
    missing = ctx.run("missing", [binary, "ntp-config", "--chrony", "-c",
                                  ctx.path("absent.conf")], 10)
    check(missing.returncode == 1 and "cannot read" in missing.stderr and missing.stdout == "",
          f"missing config: exit {missing.returncode}\n{missing.stdout}{missing.stderr}")
    bad = src / "tests" / "data" / "bad-config" / "bad-baud.conf"
    expected = f"{bad}:" + bad.read_text().split("\n", 1)[0][len("# expect: "):]
    done = ctx.run("bad", [binary, "ntp-config", "--ntpsec", "-c", bad], 10)
    check(done.returncode == 1 and expected in done.stderr and done.stdout == "",
          f"bad config: exit {done.returncode}, expected 1 and {expected}\n"
          f"{done.stdout}{done.stderr}")
    shipped = src / "config" / "shmrefclock.conf"
    for argv in (["ntp-config", "-c", shipped], ["ntp-config", "--chrony", "--ntpd", "-c",
                                                   shipped]):
        done = ctx.run("usage", [binary] + argv, 10)
        check(done.returncode == 2 and done.stderr.strip(),
              f"{argv}: exit {done.returncode}, expected 2\n{done.stderr}")

    for name, reply, problem in (("silent", None, "did not answer within"),
                                 ("garbage", b"garbage\n", "not a JSON object")):
        control = ctx.path(f"{name}.control")
        server = Server(control, reply)
        config = ctx.write(f"{name}.conf", shipped.read_text().replace(
            'control = "/run/shmrefclock/control"', f"control = {toml_string(control)}"))
        check(str(control) in config.read_text(), "the shipped config names no control socket")
        done = ntp_config(ctx, name, "--chrony", config)
        log(done.stdout)
        server.sock.close()
        check(problem in done.stdout, f"{name}: no {problem!r} in\n{done.stdout}")
        check(offset_of(done.stdout, "refclock SHM 0 ") == 0.0,
              f"{name}: an offset without a measurement:\n{done.stdout}")
        chronyd_parses(ctx, name, done.stdout)


CASES = {"chrony": case_chrony, "ntpsec": case_ntpsec, "live": case_live, "bad": case_bad}

if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    if case not in CASES:
        print(f"usage: {sys.argv[0]} {'|'.join(CASES)}", file=sys.stderr)
        sys.exit(2)
    harness.main(f"ntp_config_{case}", CASES[case], timeout=100)
