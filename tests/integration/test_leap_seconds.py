#!/usr/bin/python3
"""The leap indicator the daemon publishes (issue 8, Done-when 2).

The daemon runs one system refclock that writes SHM unit 3 and sends to a
SOCK socket this test binds itself (a struct sock_sample per datagram, as
chronyd's refclock_sock.c reads it). Its own clock is faked with libfaketime
(LD_PRELOAD, FAKETIME="@DATE TIME": CLOCK_REALTIME and CLOCK_MONOTONIC start
there and run at the real rate; its timerfds and epoll work under it), so a
system refclock's reference time is that date. The test itself is not faked.

Checked, for each case, on both the segment and the datagrams:
- tzdata's list (/usr/share/zoneinfo/leap-seconds.list; expired today, but
  not at a 2016 date): leap 1 on 2016-12-31, 0 on 2016-12-30 and 2017-01-01;
- a list built here with a valid SHA-1 (computed here with hashlib over the
  digits of #$, #@ and the data fields) that schedules a leap at the end of
  2016-11-30 announces nothing on 2016-11-30; the same list with the leap at
  the end of 2016-12-31 announces it (so the hand-built hash is right);
- an expired list, a bad hash, a missing file: leap 0 and a warning in the
  log naming the problem;
- the file replaced while the daemon runs (a bad list renamed over by a good
  one, as dpkg does) is reloaded and leap becomes 1 without a restart;
- SIGHUP reads the list again (here one whose directory did not exist at
  start, so that no file watch could see it appear);
- `status` under the same faked date reports the list valid and announcing,
  and today (unfaked) tzdata 2025b's list as expired;
- chronyd (-x, faked to the same clock: FAKETIME as an offset from the real
  time, so that both processes agree) reading the segment on 2016-12-31
  shows `Leap status : Insert second`, and `Normal` on 2016-12-30.
"""

import hashlib
import json
import os
import pathlib
import signal
import socket
import struct
import time

import chrony
import harness
from harness import Fail, Skip, check, log

UNIT = 3
NTP = 2208988800  # NTP seconds of 1970-01-01
TZDATA_LIST = pathlib.Path("/usr/share/zoneinfo/leap-seconds.list")
FAKETIME_LIBS = [pathlib.Path(p) for p in (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1")]
# struct sock_sample on 64-bit Linux: timeval (16), double offset, int pulse,
# int leap, int _pad, int magic.
SOCK_FORMAT = "=qqdiiii"
SOCK_MAGIC = 0x534F434B

# date -u -d DATE +%s
DEC01_2016 = 1480550400
DEC31_2016_NOON = 1483185600
JAN01_2017 = 1483228800
JUL01_2016 = 1467331200


def faketime_lib():
    for path in FAKETIME_LIBS:
        if path.exists():
            return path
    raise Skip("libfaketime is not installed (Debian package libfaketime)")


def hand_list(entries, expires, updated=JUL01_2016, break_hash=False):
    """A leap-seconds.list in the IERS layout; entries are (POSIX, DTAI)."""
    data = f"{updated + NTP}{expires + NTP}" + "".join(
        f"{t + NTP}{dtai}" for t, dtai in entries)
    digest = hashlib.sha1(data.encode()).hexdigest()
    if break_hash:
        digest = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    words = " ".join(digest[i:i + 8] for i in range(0, 40, 8))
    lines = ["#\tbuilt by test_leap_seconds.py", f"#$\t{updated + NTP}",
             f"#@\t{expires + NTP}"]
    lines += [f"{t + NTP}\t{dtai}\t# entry" for t, dtai in entries]
    lines += [f"#h\t{words}", ""]
    return "\n".join(lines)


def body(ctx):
    daemon_binary = harness.daemon_binary()
    lib = faketime_lib()
    if not TZDATA_LIST.exists():
        raise Skip(f"{TZDATA_LIST} is not installed (Debian package tzdata)")
    sock_path = ctx.path("refclock.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(sock_path))
    receiver.settimeout(0.2)

    def drain():
        receiver.setblocking(False)
        try:
            while True:
                receiver.recv(256)
        except BlockingIOError:
            pass
        receiver.settimeout(0.2)

    def run(label, fake, list_path, expect_leap, expect_log=None,
            during=None):
        """Start the daemon at `fake` with `leap-seconds = list_path`; check
        the SHM and SOCK leap; return the daemon's log."""
        conf = ctx.write(f"{label}.conf", f"""\
[daemon]
leap-seconds = "{list_path}"

[[refclock]]
name = "sys"
source = "system"
unit = {UNIT}
sock = "{sock_path}"
interval = 1.0
""")
        env = dict(os.environ, LD_PRELOAD=harness.preload(daemon_binary, lib),
                   FAKETIME=f"@{fake}", FAKETIME_DONT_RESET="1")
        drain()
        proc = ctx.start(label, [daemon_binary, "-c", conf], env=env)
        failures = []
        try:
            if during is not None:
                during(proc)
            sample = harness.wait_for_valid_sample(UNIT, 10, watch=[proc])
            # Two more, so that a changed list has been taken.
            sample = harness.wait_for_valid_sample(UNIT, 5, watch=[proc],
                                                   newer_than=sample)
            log(f"{label}: segment {sample}")
            day = time.strftime("%Y-%m-%d", time.gmtime(sample.clock_sec))
            if day != fake.split()[0]:
                failures.append(f"{label}: the sample is of {day}, not of "
                                f"{fake}: libfaketime did not take")
            if sample.leap != expect_leap:
                failures.append(f"{label}: SHM leap {sample.leap}, expected "
                                f"{expect_leap}")
            datagrams = []
            deadline = time.monotonic() + 3
            while len(datagrams) < 2 and time.monotonic() < deadline:
                try:
                    datagrams.append(receiver.recv(256))
                except socket.timeout:
                    pass
            if not datagrams:
                failures.append(f"{label}: no SOCK datagram")
            for raw in datagrams[-1:]:
                if len(raw) != struct.calcsize(SOCK_FORMAT):
                    failures.append(f"{label}: SOCK datagram of {len(raw)} "
                                    "bytes")
                    continue
                sec, _, _, _, leap, _, magic = struct.unpack(SOCK_FORMAT, raw)
                log(f"{label}: SOCK tv_sec {sec} leap {leap}")
                if magic != SOCK_MAGIC or leap != expect_leap:
                    failures.append(f"{label}: SOCK leap {leap} magic "
                                    f"{magic:#x}, expected leap "
                                    f"{expect_leap}")
        finally:
            proc.stop()
        text = proc.output()
        if expect_log is not None:
            warnings = [line for line in text.splitlines()
                        if " warning " in line or " warn " in line]
            if not any(expect_log in line for line in warnings):
                failures.append(f"{label}: no warning with {expect_log!r} in "
                                f"the log: {warnings}")
            elif len([w for w in warnings if "leap-second list" in w]) != 1:
                failures.append(f"{label}: not exactly one warning about the "
                                f"list: {warnings}")
        if failures:
            raise Fail("; ".join(failures) + f"\n--- log:\n{text}")
        return text

    tz = str(TZDATA_LIST)
    run("tzdata-dec31", "2016-12-31 12:00:00", tz, 1)
    # `status` loads the same list itself: at the faked date it announces,
    # and says whether the kernel agrees (this machine's kernel has no leap
    # armed, so it does not).
    env = dict(os.environ, LD_PRELOAD=harness.preload(daemon_binary, faketime_lib()),
               FAKETIME="@2016-12-31 12:00:00")
    done = ctx.run("status", [daemon_binary, "status", "-c",
                              ctx.path("tzdata-dec31.conf"), "--json"],
                   timeout=10, env=env)
    check(done.returncode == 0, f"status failed: {done.stderr}")
    leap = json.loads(done.stdout)["leap_seconds"]
    log(f"status at 2016-12-31: {leap}")
    check(leap["path"] == tz and leap["state"] == "valid"
          and leap["announcing"] == 1
          and leap["next_leap"]["at"] == "2017-01-01T00:00:00Z",
          f"status at 2016-12-31: {leap}")
    if "STA_INS" not in json.loads(done.stdout)["kernel"]["status_bits"]:
        check(leap["kernel_disagreement"] is not None,
              f"status: no disagreement with an unarmed kernel: {leap}")
    # Not faked: tzdata 2025b's list expired on 2026-06-28.
    done = ctx.run("status-now", [daemon_binary, "status", "-c",
                                  ctx.path("tzdata-dec31.conf"), "--json"],
                   timeout=10)
    leap = json.loads(done.stdout)["leap_seconds"]
    log(f"status now: {leap}")
    if leap["expires_sec"] <= time.time():
        check(leap["state"] == "expired" and leap["announcing"] == 0,
              f"status of the expired list: {leap}")
    run("tzdata-dec30", "2016-12-30 12:00:00", tz, 0)
    run("tzdata-jan01", "2017-01-01 12:00:00", tz, 0)

    base = (JUL01_2016 - 86400 * 366 * 10, 35)  # some earlier entry
    nov30 = ctx.write("nov30.list", hand_list(
        [base, (DEC01_2016, 36)], expires=JAN01_2017 + 86400 * 180))
    run("hand-nov30", "2016-11-30 12:00:00", nov30, 0)
    dec31 = ctx.write("dec31.list", hand_list(
        [base, (JAN01_2017, 36)], expires=JAN01_2017 + 86400 * 180))
    run("hand-dec31", "2016-12-31 12:00:00", dec31, 1)

    expired = ctx.write("expired.list", hand_list(
        [base, (JAN01_2017, 36)], expires=DEC01_2016))
    run("expired", "2016-12-31 12:00:00", expired, 0,
        expect_log="expired on 2016-12-01")
    bad = ctx.write("bad-hash.list", hand_list(
        [base, (JAN01_2017, 36)], expires=JAN01_2017 + 86400 * 180,
        break_hash=True))
    run("bad-hash", "2016-12-31 12:00:00", bad, 0, expect_log="bad hash")
    run("missing", "2016-12-31 12:00:00", ctx.path("no-such.list"), 0,
        expect_log="missing")

    # Replaced while running: starts bad, a good list is renamed over it.
    live = ctx.path("live.list")
    live.write_text(bad.read_text())

    def replace(proc):
        harness.wait_for_valid_sample(UNIT, 10, watch=[proc])
        reader = harness.ShmReader(UNIT)
        try:
            check(reader.read().leap == 0, "the bad list announced a leap")
        finally:
            reader.close()
        new = ctx.path("live.list.new")
        new.write_text(dec31.read_text())
        new.rename(live)

    text = run("replaced", "2016-12-31 12:00:00", live, 1, during=replace)
    check("changed: reloading" in text, "no reload logged after the rename")

    # SIGHUP reads the list again: its directory does not exist at start
    # (no file watch possible: a warning), is created, and SIGHUP makes the
    # daemon read the list and watch the directory.
    later = ctx.path("later") / "leap-seconds.list"

    def create_then_hup(proc):
        harness.wait_for_valid_sample(UNIT, 10, watch=[proc])
        later.parent.mkdir()
        later.write_text(dec31.read_text())
        proc.popen.send_signal(signal.SIGHUP)

    text = run("sighup", "2016-12-31 12:00:00", later, 1, during=create_then_hup)
    check("changes will not be noticed" in text,
          "no warning that the list's directory cannot be watched")

    def chrony_leap(label, fake_epoch, expect):
        """chronyd's `Leap status` with the daemon and chronyd both at
        `fake_epoch` (one offset from the real clock for both)."""
        offset = int(time.time()) - fake_epoch
        env = dict(os.environ, LD_PRELOAD=str(lib), FAKETIME=f"-{offset}",
                   FAKETIME_DONT_RESET="1")
        daemon_conf = ctx.path("tzdata-dec31.conf")
        chronyd = chrony.Chronyd(
            ctx, [f"refclock SHM {UNIT} {chrony.FAST} refid LEAP"],
            name=f"chronyd-{label}")
        chronyd_proc = chronyd.start(f"chronyd-{label}", env=env)
        # The sanitizer build's daemon needs the ASan runtime first.
        daemon_env = dict(env, LD_PRELOAD=harness.preload(daemon_binary, lib))
        daemon = ctx.start(f"daemon-{label}", [daemon_binary, "-c",
                                               daemon_conf], env=daemon_env)
        try:
            chronyd.wait_selected("LEAP", 30, watch=[chronyd_proc, daemon])
            tracking = chronyd.tracking()
            log(f"{label}: chronyc tracking: Reference ID "
                f"{tracking.get('Reference ID')}, Ref time "
                f"{tracking.get('Ref time (UTC)')}, Leap status "
                f"{tracking.get('Leap status')}")
            check(tracking.get("Leap status") == expect,
                  f"{label}: chronyd's Leap status "
                  f"{tracking.get('Leap status')!r}, expected {expect!r}")
        finally:
            daemon.stop()
            chronyd_proc.stop()

    chrony_leap("chrony-dec31", DEC31_2016_NOON, "Insert second")
    chrony_leap("chrony-dec30", DEC31_2016_NOON - 86400, "Normal")


if __name__ == "__main__":
    harness.main("leap_seconds", body, timeout=140)
