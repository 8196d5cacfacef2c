#!/usr/bin/env python3
"""shmrefclock against gpsd: receive-stamp latency, jitter, what chrony
sees, CPU and memory, and the metrics listener's cost.

One run feeds the daemons the same real SiRFstar V NMEA cycles (in the
capture's order, with their real lengths, 328 to 728 bytes) once a
second, side by side, first paced at the line rate (one byte every 10/baud s
on an absolute schedule) and then in one burst (one write per cycle), and
prints a markdown table.

- shmrefclock reads a pty (the slave end, through a symlink); the bench
  writes the master end.
- gpsd writes no NTP SHM for pty sources, so it gets the same bytes through
  TCP instead: the bench listens on 127.0.0.1 and gpsd is started with
  `tcp://127.0.0.1:PORT` (the ser2net case); TCP_NODELAY, one send per byte
  when paced. A second shmrefclock reads its own TCP copy the same way, so
  that the two daemons are also compared on the same transport
  (--no-tcp-twin to leave it out).
- Receive-stamp latency = the segment's receiveTimeStamp minus the instant
  (CLOCK_REALTIME, taken just before the write(2)) the cycle's first byte
  was written to that daemon's channel. Samples are read by polling the
  segments and matched to their cycle by clockTimeStampSec.
- CPU = utime+stime from /proc/PID/stat over each mode's window, as % of one
  core (schedstat, in ns, is shown next to it: stat ticks are 10 ms).
  Peak RSS = VmHWM at the end of the run.
- chrony std dev = `chronyc -c sourcestats` Std Dev at the end of each of
  --repeats repeats of the paced phase (default 5 of 100 cycles; the byte
  order alternates between them), from chronyd -x reading each daemon's SHM
  unit (a second chronyd in gpsd's IPC namespace for gpsd's): median and
  range over the repeats, and whether the daemons' difference is larger
  than that spread.
- The metrics listener: a third shmrefclock on TCP with `[daemon] metrics`
  against the TCP twin without it, then scraped (--scrapes) and measured
  again.

Everything runs in a private IPC and network namespace (unshare --ipc
--net), and gpsd in a nested IPC namespace of its own (it creates units 0-7
when it starts and writes 0, as root, for its first device); shmrefclock is
on --unit (default 2, and 3 for the TCP twin). No segment or port of the
host is touched. The feeder runs SCHED_FIFO (it stands in for the UART
hardware) and stays off the CPUs while the daemons stamp a cycle; the
daemons run as ordinary processes unless --daemon-fifo, --daemon-nice or
--daemon-cpus say otherwise.

Standard library only. Usage: bench/bench.py [--quick] [--cycles N] ...
See bench/README.md.
"""

import argparse
import ctypes
import ctypes.util
import datetime
import fcntl
import gc
import json
import math
import os
import platform
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tty
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tests' segment reader and NMEA sentence writer, shared with bench/.
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import fake_receiver  # noqa: E402
import shm_segment  # noqa: E402
import ubx_frames  # noqa: E402
NS_GUARD = "SHMREFCLOCK_BENCH_IN_NS"
CMDLINE_ENV = "SHMREFCLOCK_BENCH_CMDLINE"
NS_PER_S = 1_000_000_000
# chrony's reference IDs for the daemons' SHM units.
CHRONY_REFIDS = {"shmrefclock": "SHMP", "shmrefclock-tcp": "SHMT",
                 "gpsd": "GPSD"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ----------------------------------------------------------------------------
# The NMEA cycles: a SiRFstar V (tests/data/nmea-captures/sirfstarv-nmea.log),
# the capture's cycles one after the other, in order, with all their
# sentences: GPGGA GLGGA GNGSA x2 [GPGSV x3 GLGSV x3] GNRMC, 328 to 728
# bytes (the receiver sends its GSV sentences every few seconds, and the
# satellites in view change: a cycle's length varies by hundreds of bytes,
# as a real receiver's does). Times and dates are rewritten to the second
# the cycle is sent in, checksums recomputed. Without the capture, one
# built-in cycle from it is repeated.

DEFAULT_CAPTURE = os.path.join(REPO, "tests", "data", "nmea-captures",
                               "sirfstarv-nmea.log")
BUILTIN_CYCLE = [
    "GPGGA,020935.000,4404.1351,N,12118.8556,W,1,08,0.9,1123.9,M,-19.6,M,,0000",
    "GLGGA,020935.000,4404.1351,N,12118.8556,W,1,02,0.9,1123.9,M,-19.6,M,,0000",
    "GNGSA,A,3,15,17,30,28,01,19,24,11,,,,,1.8,0.9,1.5",
    "GNGSA,A,3,73,82,,,,,,,,,,,1.8,0.9,1.5",
    "GNRMC,020935.000,A,4404.1351,N,12118.8556,W,0.04,359.11,050219,,,A",
]
# Where the time (hhmmss[.s...]) and date fields are (NMEA 0183 4.10).
TIME_FIELD = {"RMC": 1, "GGA": 1, "GLL": 5, "GNS": 1, "GST": 1, "GBS": 1,
              "GRS": 1, "ZDA": 1}
DATE_FIELD = {"RMC": 9}  # ddmmyy; ZDA has day, month, year in 2, 3, 4
# A cycle longer than this does not end before the next one starts at
# 9600 baud (10 bits a byte, first byte 100 ms after the second).
MAX_CYCLE_BYTES = 850


def load_cycles(path):
    """The capture's complete cycles, in order, as lists of sentence bodies.
    A cycle starts at the first time-bearing sentence whose time differs
    from the current cycle's; the capture's first and last (possibly cut)
    cycles are dropped, and so are cycles that are not a valid fix (RMC
    status A), would not fit in a second at 9600 baud, or name no date."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return [BUILTIN_CYCLE]
    cycles, current, current_time = [], None, None
    for line in lines:
        if not line.startswith("$") or "*" not in line:
            continue
        body = line[1:line.rindex("*")]
        fields = body.split(",")
        kind = fields[0][2:5]
        if kind in TIME_FIELD and len(fields) > TIME_FIELD[kind]:
            stamp = fields[TIME_FIELD[kind]]
            if stamp and stamp != current_time:
                current, current_time = [], stamp
                cycles.append(current)
        if current is not None:
            current.append(body)

    def usable(cycle):
        rmc = [b.split(",") for b in cycle if b[2:5] == "RMC"]
        size = sum(len(b) + 6 for b in cycle)  # $ *hh CR LF
        return (len(rmc) == 1 and len(rmc[0]) > 9 and rmc[0][2] == "A"
                and size <= MAX_CYCLE_BYTES)

    complete = [c for c in cycles[1:-1] if usable(c)]
    return complete or [BUILTIN_CYCLE]


def nmea_cycle(cycle, second):
    """`cycle`'s sentences reporting UTC second `second` (POSIX time)."""
    utc = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
    out = []
    for body in cycle:
        fields = body.split(",")
        kind = fields[0][2:5]
        field = TIME_FIELD.get(kind)
        if field is not None and len(fields) > field and fields[field]:
            # Keep the capture's number of decimals (".00", ".000").
            _, dot, frac = fields[field].partition(".")
            fields[field] = utc.strftime("%H%M%S") + (
                dot + "0" * len(frac) if dot else "")
        if kind in DATE_FIELD and len(fields) > DATE_FIELD[kind]:
            fields[DATE_FIELD[kind]] = utc.strftime("%d%m%y")
        if kind == "ZDA" and len(fields) > 4:
            fields[2:5] = [utc.strftime("%d"), utc.strftime("%m"),
                           utc.strftime("%Y")]
        out.append(fake_receiver.sentence(",".join(fields)).decode("ascii"))
    return "".join(out).encode("ascii")


# The UBX epochs (--ubx): a u-blox timing receiver configured as
# config/examples/ublox-timing-chrony.conf asks, plus NAV-PVT and NAV-SAT
# as it sends them by default: NAV-PVT, NAV-TIMEGPS, NAV-TIMEUTC, NAV-SAT
# with UBX_SATELLITES satellites, then the TIM-TP of the next pulse, 432
# bytes an epoch (37.5 ms at 115200 Bd).
UBX_SATELLITES = 20
UBX_DESCRIPTION = (f"UBX NAV-PVT NAV-TIMEGPS NAV-TIMEUTC NAV-SAT "
                   f"({UBX_SATELLITES} satellites) TIM-TP")


def ubx_epoch(second):
    """The UBX frames of the epoch of UTC second `second`."""
    t_acc_ns = 20
    return (ubx_frames.nav_pvt(second, t_acc_ns) +
            ubx_frames.nav_timegps(second, t_acc_ns) +
            ubx_frames.nav_timeutc(second, True, t_acc_ns) +
            ubx_frames.nav_sat(second, UBX_SATELLITES) +
            ubx_frames.tim_tp(second + 1, (second % 21 - 10) * 1003))


def cycle_description(cycles):
    """'GPGGA GLGGA GNGSA×2 [GPGSV×3 GLGSV×3] GNRMC'-style summary of the
    sentence kinds: those in every cycle plain, the others in brackets."""
    every = set.intersection(*(set(b.split(",")[0] for b in c) for c in cycles))
    seen = []
    for c in sorted(cycles, key=len, reverse=True):  # the longest's order
        for b in c:
            talker = b.split(",")[0]
            if talker not in seen:
                seen.append(talker)
    parts = []
    for talker in seen:
        most = max(sum(1 for b in c if b.split(",")[0] == talker)
                   for c in cycles)
        text = talker + (f"×{most}" if most > 1 else "")
        parts.append(text if talker in every else f"[{text}]")
    return " ".join(parts)


def realtime_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


# ----------------------------------------------------------------------------
# The feeder: a child process (no GIL shared with the poller), SCHED_FIFO.
# Protocol on stdin/stdout, one JSON object per line.

def feeder_main(names, capture):
    """Writes each cycle to the pty (if "pty" is in `names`: nobody reads it
    otherwise, and a full pty would block the feeder) and to one TCP
    connection per other name, byte by byte or in one write."""
    use_pty = "pty" in names
    tcp_names = [n for n in names if n != "pty"]
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo into the master before the daemon opens it
    listeners = {}
    for name in tcp_names:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listeners[name] = listener
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
        sched = "SCHED_FIFO 50"
    except (OSError, AttributeError) as err:
        sched = f"SCHED_OTHER (SCHED_FIFO refused: {err})"
    emit({"pty": os.ttyname(slave), "sched": sched,
          "ports": {n: l.getsockname()[1] for n, l in listeners.items()}})
    conns = {}
    deadline = time.monotonic() + 30
    selector = selectors.DefaultSelector()
    for name, listener in listeners.items():
        selector.register(listener, selectors.EVENT_READ, name)
    while len(conns) < len(listeners):
        ready = selector.select(timeout=max(0, deadline - time.monotonic()))
        if not ready:
            emit({"error": "no TCP connection from "
                  + ", ".join(n for n in listeners if n not in conns)
                  + " within 30 s"})
            return 1
        for key, _ in ready:
            conn, _ = key.fileobj.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[key.data] = conn
            selector.unregister(key.fileobj)
    emit({"connected": True})
    plan = json.loads(sys.stdin.readline())
    cycles = load_cycles(capture)
    byte_ns = 10 * NS_PER_S / plan["baud"]  # 8N1: 10 bits a byte
    phase_ns = int(plan["phase"] * NS_PER_S)
    # The pty last: loopback TCP is delivered (and its reader woken) inside
    # send(), while the pty's bytes wait for a kworker to push them to the
    # line discipline; that kworker must not wait for the feeder's sends.
    # The metrics instance's copy goes last, after the pty: it leaves the
    # other channels' timing as it was without it.
    # plan["pty_first"]: per cycle, the repeats of the paced phase
    # alternate it (bench.py's --repeats).
    def writers_for(pty_first):
        writers = [(name, conns[name].sendall) for name in tcp_names
                   if name != "shmrefclock-metrics"]
        pty_writer = ("pty", lambda data: os.write(master, data))
        if use_pty:
            writers.insert(0 if pty_first else len(writers), pty_writer)
        if "shmrefclock-metrics" in conns:
            writers.append(("shmrefclock-metrics",
                            conns["shmrefclock-metrics"].sendall))
        return writers
    orders = {order: writers_for(order) for order in (False, True)}
    gc.disable()
    for index, mode in enumerate(plan["modes"]):
        writers = orders[plan["pty_first"][index]]
        second = plan["start_sec"] + index
        data = (ubx_epoch(second) if plan["protocol"] == "ubx" else
                nmea_cycle(cycles[index % len(cycles)], second))
        start = second * NS_PER_S + phase_ns
        first = {}
        late = []
        chunks = [data] if mode == "burst" else \
            [data[i:i + 1] for i in range(len(data))]
        for i, chunk in enumerate(chunks):
            target = start + int(i * byte_ns)
            if i == 0:
                # A cycle's first byte follows a second of silence, and a
                # wake-up from that long a sleep is late by 0.1-0.2 ms and
                # varies (measured: std dev 0.09 ms, against 0.03 ms for
                # the bytes that follow). shmrefclock stamps the first byte,
                # so chrony's view of it (its offset is receive - second,
                # not receive - write) would carry the feeder's wake-up
                # jitter, where a UART's first byte is on time; gpsd stamps
                # a later byte and would not. Wake early, then spin.
                sleep_until(target - FIRST_BYTE_SPIN_NS)
                while realtime_ns() < target:
                    pass
            else:
                sleep_until(target)
            late.append(realtime_ns() - target)
            for name, write in writers:
                if i == 0:
                    first[name] = realtime_ns()
                write(chunk)
        late.sort()
        # Report when every daemon is done with the cycle, not at the
        # instant the bytes land: waking the parent then would compete
        # with the daemons for the CPUs.
        sleep_until(start + plan["report_after_ns"])
        emit({"index": index, "second": second, "mode": mode,
              "bytes": len(data), "first_ns": first, "end_ns": realtime_ns(),
              "late_median_ns": late[len(late) // 2],
              "late_max_ns": late[-1]})
    # Let the daemons finish the last cycle before the line goes away.
    time.sleep(1.0)
    emit({"done": True})
    sys.stdin.readline()  # the parent says when to close
    return 0


# How early the feeder wakes before a cycle's first byte, to spin until it.
FIRST_BYTE_SPIN_NS = 2_000_000


def sleep_until(target_ns):
    remaining = target_ns - realtime_ns()
    if remaining > 0:
        time.sleep(remaining / NS_PER_S)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------
# SysV SHM, read-only: the tests' reader (tests/integration/shm_segment.py)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
CLONE_NEWIPC = 0x08000000


class Segment:
    """One unit's segment, attached read-only; in the IPC namespace of
    process `ns_pid` if given (the attachment outlives the setns back)."""

    def __init__(self, unit, ns_pid=None):
        self.unit = unit
        self.ns_pid = ns_pid
        self.addr = None
        self.last = None

    def attach(self):
        if self.addr is not None:
            return True
        if self.ns_pid is None:
            return self._attach_here()
        own = os.open("/proc/self/ns/ipc", os.O_RDONLY)
        try:
            target = os.open(f"/proc/{self.ns_pid}/ns/ipc", os.O_RDONLY)
        except OSError:
            os.close(own)
            return False
        try:
            if _libc.setns(target, CLONE_NEWIPC) != 0:
                raise SystemExit(f"bench: setns: {os.strerror(ctypes.get_errno())}")
            return self._attach_here()
        finally:
            if _libc.setns(own, CLONE_NEWIPC) != 0:
                raise SystemExit("bench: cannot return to the bench's IPC "
                                 "namespace")
            os.close(own)
            os.close(target)

    def _attach_here(self):
        try:
            self.reader = shm_segment.ShmReader(self.unit)
        except shm_segment.SegmentError:
            return False
        self.addr = self.reader.addr
        return True

    def poll(self):
        """A new valid sample as (clock_sec, clock_nsec, receive_ns), or None."""
        if not self.attach():
            return None
        try:
            sample = self.reader.read(attempts=100)
        except shm_segment.SegmentError:
            return None
        key = (sample.count,) + sample.key()
        if not sample.valid or key == self.last:
            return None
        self.last = key
        return sample.clock_sec, sample.clock_nsec, sample.receive_ns


# ----------------------------------------------------------------------------
# /proc

def proc_usage(pid):
    """CPU ticks (utime+stime), schedstat ns and wait ns over all threads,
    voluntary+involuntary context switches, peak and current RSS (kB)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    nice, rt_priority, policy = int(fields[16]), int(fields[37]), int(fields[38])
    run_ns = wait_ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait, _ = f.read().split()
            run_ns += int(run)
            wait_ns += int(wait)
        except OSError:
            pass
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    switches = (int(status.get("voluntary_ctxt_switches", 0)) +
                int(status.get("nonvoluntary_ctxt_switches", 0)))
    kb = lambda k: int(status.get(k, "0 kB").split()[0])
    return {"ticks": ticks, "run_ns": run_ns, "wait_ns": wait_ns,
            "switches": switches, "hwm_kb": kb("VmHWM"), "rss_kb": kb("VmRSS"),
            "anon_kb": kb("RssAnon"), "file_kb": kb("RssFile"),
            "sched": (f"SCHED_FIFO {rt_priority}" if policy == 1 else
                      f"SCHED_RR {rt_priority}" if policy == 2 else
                      f"nice {nice}")}


def system_busy():
    """(busy, steal, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values[:8]) - idle, values[7], sum(values[:8])


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ----------------------------------------------------------------------------
# Set-up

def build(build_dir):
    """The daemon as a user builds it (the project's default buildtype,
    minsize), without tests, in its own build directory."""
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        run_checked(["meson", "setup", build_dir, REPO, "-Dtests=disabled"])
    run_checked(["ninja", "-C", build_dir, "src/shmrefclock"])
    return os.path.join(build_dir, "src", "shmrefclock")


def run_checked(cmd):
    print(f"+ {shlex.join(cmd)}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        sys.exit(f"bench: {cmd[0]} failed (exit {result.returncode})")


def loopback_up():
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    layout = "16sh14x"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack(layout, fcntl.ioctl(
            sock, siocgifflags, struct.pack(layout, b"lo", 0)))[1]
        if not flags & iff_up:
            fcntl.ioctl(sock, siocsifflags,
                        struct.pack(layout, b"lo", flags | iff_up))


def reexec_in_namespaces():
    if os.environ.get(NS_GUARD) == "1":
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("bench: unshare(1) (util-linux) is needed")
    cmd = [unshare, "--ipc", "--net", "--", sys.executable,
           os.path.abspath(__file__)] + sys.argv[1:]
    os.execve(unshare, cmd, dict(os.environ, **{NS_GUARD: "1"}))


def machine_description():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def git_revision():
    try:
        git = ["git", "--no-optional-locks", "-C", REPO]
        rev = subprocess.run(git + ["rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "src",
                                      "include", "meson.build"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except OSError:
        return "?"


# ----------------------------------------------------------------------------
# The run

PR_SET_PDEATHSIG = 1


def die_with_bench():
    """In a child before exec: SIGKILL when the bench dies, so that no
    daemon or chronyd outlives an interrupted run."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def stop_process(proc, log):
    """SIGTERM, SIGKILL after 5 s, then close the process's log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


class Daemon:
    def __init__(self, name, label, cmd, unit, channel, log_path, args,
                 own_ipc_namespace=False):
        self.name, self.label, self.unit, self.channel = name, label, unit, channel
        if own_ipc_namespace:
            # unshare execs the daemon: same pid.
            cmd = [shutil.which("unshare") or "unshare", "--ipc", "--"] + cmd
        self.samples = []  # (clock_sec, clock_nsec, receive_ns, seen_ns)
        self.log = open(log_path, "w")

        def prepare():
            die_with_bench()
            if args.daemon_nice:
                os.nice(args.daemon_nice)
            if args.daemon_cpus:
                os.sched_setaffinity(0, parse_cpus(args.daemon_cpus))
            if args.daemon_fifo:
                os.sched_setscheduler(0, os.SCHED_FIFO,
                                      os.sched_param(args.daemon_fifo))

        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=prepare)
        self.segment = Segment(unit, self.proc.pid if own_ipc_namespace
                               else None)

    def poll(self):
        sample = self.segment.poll()
        if sample is not None:
            self.samples.append(sample + (realtime_ns(),))

    def stop(self):
        stop_process(self.proc, self.log)


# chrony's view: what a user's chronyd makes of each daemon's SHM unit.
# One SHM reading a second (dpoll 0), and each reading is one measurement
# (poll 0, filter 1), so that `sourcestats`' Std Dev is the spread of the
# daemon's own stamps: chrony's defaults (poll 4, filter 64: every 16 s the
# median ~60 % of 16 readings, averaged) would average the stamps' jitter
# away and leave ~9 points in a 150 s phase. The offset is left at 0: a
# constant offset does not change a standard deviation. noselect, as for an
# NMEA source next to a PPS one: without it, a run kept only 6 to 9 of 35
# samples in every source's regression, gpsd's too, and with it 31 to 37
# where no stamp was late. Our reading: under -x a selected source still
# "corrects" chrony's (null-driver) clock, chrony shifts the stored samples
# by corrections the real clock never made, and the runs test then drops
# the older samples.
CHRONY_OPTIONS = "poll 0 dpoll 0 filter 1 noselect"


class Chronyd:
    """chronyd -x (it never touches the clock) reading SHM units, with its
    own command socket, pidfile and config in `tmp`, no NTP or UDP command
    port; in the IPC namespace of process `ns_pid` if given (gpsd's)."""

    def __init__(self, name, refclocks, tmp, ns_pid=None):
        self.name = name
        self.refclocks = refclocks  # [(unit, refid, daemon name)]
        self.sock = os.path.join(tmp, f"{name}.sock")
        self.conf = os.path.join(tmp, f"{name}.conf")
        with open(self.conf, "w") as f:
            for unit, refid, _ in refclocks:
                f.write(f"refclock SHM {unit} refid {refid} {CHRONY_OPTIONS}\n")
            f.write(f"port 0\ncmdport 0\nbindcmdaddress {self.sock}\n"
                    f"pidfile {os.path.join(tmp, name + '.pid')}\n"
                    f"driftfile {os.path.join(tmp, name + '.drift')}\n"
                    # Kept with --keep: each reading and the regressions.
                    f"logdir {os.path.join(tmp, name + '-logs')}\n"
                    f"log refclocks statistics\n")
        os.mkdir(os.path.join(tmp, name + "-logs"))
        self.log = open(os.path.join(tmp, f"{name}.log"), "w")
        ns_path = f"/proc/{ns_pid}/ns/ipc" if ns_pid else None

        def prepare():
            die_with_bench()
            if ns_path:
                fd = os.open(ns_path, os.O_RDONLY)
                if _libc.setns(fd, CLONE_NEWIPC) != 0:
                    os._exit(127)
                os.close(fd)

        self.proc = subprocess.Popen(
            [CHRONYD, "-x", "-d", "-u", "root", "-f", self.conf],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=prepare)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: {name} did not start; see "
                                 f"{self.log.name}")
            time.sleep(0.05)

    def sourcestats(self):
        """{refid: {np, span_s, offset_s, sd_s}} from `chronyc -c
        sourcestats` (CSV: name, NP, NR, span, frequency, freq skew,
        offset, std dev; seconds)."""
        done = subprocess.run([CHRONYC, "-h", self.sock, "-n", "-c",
                               "sourcestats"], capture_output=True, text=True,
                              timeout=10)
        stats = {}
        for line in done.stdout.splitlines():
            cols = line.split(",")
            if len(cols) >= 8:
                try:
                    stats[cols[0]] = {"np": int(cols[1]),
                                      "span_s": float(cols[3]),
                                      "offset_s": float(cols[6]),
                                      "sd_s": float(cols[7])}
                except ValueError:
                    pass
        return stats

    def readings(self, refid, lo, hi):
        """The raw offsets (s) chrony read from `refid`'s segment for the
        cycles of seconds lo..hi-1, from its refclocks.log."""
        path = os.path.join(os.path.dirname(self.sock), self.name + "-logs",
                            "refclocks.log")
        offsets = []
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            return offsets
        for line in lines:
            cols = line.split()
            # Date Time Refid DP L P Raw-offset Cooked-offset Disp.; '-' in
            # DP marks the filter's output, not a reading.
            if len(cols) != 9 or cols[2] != refid or cols[3] == "-":
                continue
            try:
                when = datetime.datetime.strptime(
                    f"{cols[0]} {cols[1].split('.')[0]}", "%Y-%m-%d %H:%M:%S")
                second = int(when.replace(
                    tzinfo=datetime.timezone.utc).timestamp())
                if lo <= second < hi:
                    offsets.append(float(cols[6]))
            except ValueError:
                pass
        return offsets

    def stop(self):
        stop_process(self.proc, self.log)


CHRONYD = "/usr/sbin/chronyd"
CHRONYC = shutil.which("chronyc") or "/usr/bin/chronyc"


def scrape(port, count):
    """`count` GETs of /metrics and of / (no proxy); returns the bytes of
    the last answer to each, or raises."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    sizes = {}
    for _ in range(count):
        for path in ("/metrics", "/"):
            with opener.open(f"http://127.0.0.1:{port}{path}",
                             timeout=10) as answer:
                sizes[path] = len(answer.read())
    return sizes


def parse_cpus(text):
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def percentile(sorted_values, fraction):
    """Nearest rank."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def run(args):
    wanted = set(args.only.split(",")) if args.only else \
        {"shmrefclock", "gpsd"} | (
            {"shmrefclock-tcp"} if args.tcp_twin else set()) | (
            {"shmrefclock-metrics"} if args.metrics else set())
    unknown = wanted - {"shmrefclock", "gpsd", "shmrefclock-tcp",
                        "shmrefclock-metrics"}
    if unknown:
        raise SystemExit(f"bench: --only: unknown {', '.join(sorted(unknown))}")
    tmp = tempfile.mkdtemp(prefix="shmrefclock-bench-")
    loopback_up()
    gpsd_version = tool_version([args.gpsd, "-V"]).split()
    gpsd_label = (f"gpsd {gpsd_version[1]} (TCP)" if len(gpsd_version) > 1
                  else "gpsd (TCP)")
    tcp_names = [n for n in ("gpsd", "shmrefclock-tcp", "shmrefclock-metrics")
                 if n in wanted]
    feeder = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                               "_feeder", args.capture] + tcp_names +
                              (["pty"] if "shmrefclock" in wanted else []),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, bufsize=1)
    hello = json.loads(feeder.stdout.readline())
    link = os.path.join(tmp, "gps0")
    os.symlink(hello["pty"], link)

    def shmrefclock_config(name, device, unit, metrics=None):
        path = os.path.join(tmp, f"{name}.conf")
        with open(path, "w") as f:
            f.write("[daemon]\n")
            if metrics:
                f.write(f'metrics = "{metrics}"\n')
            if args.sched_priority:
                # The daemon's own option: its event loop SCHED_FIFO, the
                # threads it starts at the normal policy.
                f.write(f"sched-priority = {args.sched_priority}\nlock-memory = true\n")
            f.write(f'[[refclock]]\nname = "gps"\nsource = "nmea"\n'
                    f'device = "{device}"\nbaud = {args.baud}\n'
                    f'unit = {unit}\nmin-fixes = 1\n')
        return [args.binary, "-c", path]

    daemons = []
    if "shmrefclock" in wanted:
        daemons.append(Daemon(
            "shmrefclock", "shmrefclock (pty)",
            shmrefclock_config("shmrefclock", link, args.unit),
            args.unit, "pty", os.path.join(tmp, "shmrefclock.log"), args))
    if "gpsd" in wanted:
        daemons.append(Daemon("gpsd", gpsd_label,
               [args.gpsd, "-N", "-n", "-b", "-D", "0", "-S", "2947",
                "-F", os.path.join(tmp, "gpsd.sock"),
                f"tcp://127.0.0.1:{hello['ports']['gpsd']}"], 0, "gpsd",
               os.path.join(tmp, "gpsd.log"), args,
               own_ipc_namespace=True))  # gpsd creates units 0-7
    if "shmrefclock-tcp" in wanted:
        port = hello["ports"]["shmrefclock-tcp"]
        daemons.append(Daemon(
            "shmrefclock-tcp", "shmrefclock (TCP)",
            shmrefclock_config("shmrefclock-tcp", f"tcp://127.0.0.1:{port}",
                               args.unit + 1),
            args.unit + 1, "shmrefclock-tcp",
            os.path.join(tmp, "shmrefclock-tcp.log"), args))
    if "shmrefclock-metrics" in wanted:
        # The TCP twin again, with the HTTP listener on: the difference
        # between the two is what the listener costs.
        port = hello["ports"]["shmrefclock-metrics"]
        daemons.append(Daemon(
            "shmrefclock-metrics", "shmrefclock (TCP, metrics)",
            shmrefclock_config("shmrefclock-metrics",
                               f"tcp://127.0.0.1:{port}", args.unit + 2,
                               metrics=f"127.0.0.1:{args.metrics_port}"),
            args.unit + 2, "shmrefclock-metrics",
            os.path.join(tmp, "shmrefclock-metrics.log"), args))
    chronyds = []
    try:
        line = feeder.stdout.readline()
        status = json.loads(line) if line else {"error": "feeder died"}
        if "error" in status:
            raise SystemExit(f"bench: {status['error']}")
        time.sleep(1.0)  # shmrefclock opens its pty
        for d in daemons:
            if d.proc.poll() is not None:
                raise SystemExit(f"bench: {d.name} exited "
                                 f"({d.proc.returncode}); see {d.log.name}")
        if args.chrony:
            # After the daemons: chrony would create a missing segment
            # itself (mode 0600), and gpsd makes its own at start.
            ours = [(d.unit, CHRONY_REFIDS[d.name], d.name) for d in daemons
                    if d.name in ("shmrefclock", "shmrefclock-tcp")]
            if ours:
                chronyds.append(Chronyd("chronyd", ours, tmp))
            for d in daemons:
                if d.name == "gpsd":
                    chronyds.append(Chronyd(
                        "chronyd-gpsd", [(d.unit, CHRONY_REFIDS["gpsd"],
                                          "gpsd")], tmp, ns_pid=d.proc.pid))
        paced_total = args.paced_cycles * args.repeats
        modes = (["paced"] * args.warmup + ["paced"] * paced_total +
                 ["burst"] * args.cycles)
        # Repeat k of the paced phase writes each byte to the pty first when
        # k is odd (--pty-first: even), so that neither daemon's channel
        # always has the earlier write; the warm-up and the bursts as
        # --pty-first says.
        pty_first = ([args.pty_first] * args.warmup +
                     [args.pty_first != (k % 2 == 1)
                      for k in range(args.repeats)
                      for _ in range(args.paced_cycles)] +
                     [args.pty_first] * args.cycles)
        start_sec = time.time_ns() // NS_PER_S + 2
        feeder.stdin.write(json.dumps({"start_sec": start_sec, "modes": modes,
                                       "baud": args.baud,
                                       "protocol": "ubx" if args.ubx else "nmea",
                                       "pty_first": pty_first,
                                       "report_after_ns": int(0.8 * NS_PER_S),
                                       "phase": args.phase}) + "\n")
        feeder.stdin.flush()
        # Measurement windows: each mode's cycles, from just before its first
        # cycle to just before the cycle after its last.
        phase_ns = int(args.phase * NS_PER_S)
        first_paced = start_sec + args.warmup
        first_burst = first_paced + paced_total
        windows = {
            "paced": (first_paced, first_burst),
            "burst": (first_burst, first_burst + args.cycles),
        }
        # The repeats of the paced phase, each chrony's view on its own:
        # --paced-cycles is more than the 64 samples chrony's regression
        # keeps, so that each repeat's sourcestats hold its own cycles only.
        repeats = [(first_paced + k * args.paced_cycles,
                    first_paced + (k + 1) * args.paced_cycles)
                   for k in range(args.repeats)]
        edges = sorted({s for w in windows.values() for s in w} |
                       {hi for _, hi in repeats})
        edge_ns = {s: s * NS_PER_S + phase_ns - 50_000_000 for s in edges}
        usage = {}  # (daemon, edge second) -> proc_usage
        # (repeat, refid) -> chronyc sourcestats at the repeat's end
        chrony_stats = {}
        busy = {}   # edge second -> system_busy
        load = {}
        cycles = {}
        fd = feeder.stdout.fileno()
        os.set_blocking(fd, False)
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        pending = ""
        done = False
        poll_s = args.poll_ms / 1000
        quiet_before_ns, quiet_after_ns = 3_000_000, 5_000_000
        while not done:
            # Stay asleep from just before a cycle's first byte until the
            # daemons have stamped it, so as not to compete with them.
            now = realtime_ns()
            wake = now + int(poll_s * NS_PER_S)
            in_second = (wake - phase_ns) % NS_PER_S
            if in_second < quiet_after_ns or in_second > NS_PER_S - quiet_before_ns:
                wake += (quiet_after_ns - in_second) % NS_PER_S
            for _ in selector.select(timeout=max(0, wake - now) / NS_PER_S):
                chunk = os.read(fd, 65536).decode()
                if not chunk:
                    raise SystemExit("bench: the feeder died")
                pending += chunk
                while "\n" in pending:
                    line, pending = pending.split("\n", 1)
                    msg = json.loads(line)
                    if msg.get("done"):
                        done = True
                    elif "second" in msg:
                        cycles[msg["second"]] = msg
            for d in daemons:
                d.poll()
            now = realtime_ns()
            for s in edges:
                if s not in busy and now >= edge_ns[s]:
                    busy[s] = system_busy()
                    load[s] = loadavg()
                    for d in daemons:
                        usage[(d.name, s)] = proc_usage(d.proc.pid)
                    usage[("bench", s)] = (proc_usage(feeder.pid)["run_ns"] +
                                           proc_usage(os.getpid())["run_ns"])
                    for k, (_, hi) in enumerate(repeats):
                        if s != hi:
                            continue
                        # The end of a repeat: 50 ms before the next
                        # cycle, chrony has read the repeat's last sample
                        # (it reads SHM once a second).
                        for c in chronyds:
                            for refid, st in c.sourcestats().items():
                                chrony_stats[(k, refid)] = st
            for d in daemons:
                if d.proc.poll() is not None:
                    raise SystemExit(f"bench: {d.name} exited "
                                     f"({d.proc.returncode}); see {d.log.name}")
        final = {d.name: proc_usage(d.proc.pid) for d in daemons}
        scraped = None
        for d in daemons:
            if d.name == "shmrefclock-metrics":
                before = proc_usage(d.proc.pid)
                t0 = time.monotonic()
                sizes = scrape(args.metrics_port, args.scrapes)
                elapsed = time.monotonic() - t0
                after = proc_usage(d.proc.pid)
                scraped = {"before": before, "after": after, "sizes": sizes,
                           "elapsed_s": elapsed}
        feeder.stdin.write("\n")
        feeder.stdin.flush()
        feeder.wait(timeout=10)
    except BaseException:
        print(f"bench: logs kept in {tmp}", file=sys.stderr)
        raise
    finally:
        for c in chronyds:
            c.stop()
        for d in daemons:
            d.stop()
        if feeder.poll() is None:
            feeder.kill()
    results = analyse(args, daemons, cycles, windows, usage, busy, load, final)
    for d in daemons:
        refid = CHRONY_REFIDS.get(d.name)
        per_repeat = []
        for k, window in enumerate(repeats):
            st = chrony_stats.get((k, refid))
            if st is None:
                continue
            for c in chronyds:
                if any(r == refid for _, r, _ in c.refclocks):
                    raw = c.readings(refid, *window)
                    st["readings"] = len(raw)
                    st["readings_sd_s"] = (statistics.stdev(raw)
                                           if len(raw) > 1 else None)
            per_repeat.append(st)
        if per_repeat:
            results[(d.name, "paced")]["chrony"] = per_repeat
    lo, hi = min(edges), max(edges)
    bench_cpu = (100 * (usage[("bench", hi)] - usage[("bench", lo)]) / 1e9
                 / (hi - lo)) if ("bench", hi) in usage else float("nan")
    report(args, daemons, cycles, results, windows, busy, load, start_sec,
           hello, bench_cpu, final, scraped)
    if args.samples_csv:
        write_csv(args.samples_csv, daemons, cycles, windows)
    if args.keep:
        print(f"\nLogs kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def mode_of(second, windows):
    for mode, (lo, hi) in windows.items():
        if lo <= second < hi:
            return mode
    return None


def analyse(args, daemons, cycles, windows, usage, busy, load, final):
    results = {}
    for d in daemons:
        matched = {}
        d.unmatched = 0
        for clock_sec, _cns, receive_ns, _seen in d.samples:
            if clock_sec in cycles and clock_sec not in matched:
                matched[clock_sec] = receive_ns - cycles[clock_sec]["first_ns"][d.channel]
            else:
                d.unmatched += 1  # a second never sent, or twice
        for mode, (lo, hi) in windows.items():
            lat = sorted(matched[s] / 1e6 for s in range(lo, hi) if s in matched)
            r = {"expected": hi - lo, "matched": len(lat)}
            if lat:
                med = statistics.median(lat)
                r["outliers"] = sum(1 for v in lat if v > med + 0.5)
                r.update(median=med,
                         p99=percentile(lat, 0.99), min=lat[0], max=lat[-1],
                         jitter=statistics.stdev(lat) if len(lat) > 1 else 0.0)
            a, b = usage.get((d.name, lo)), usage.get((d.name, hi))
            if a and b:
                seconds = hi - lo
                r["cpu"] = 100 * (b["ticks"] - a["ticks"]) / CLK_TCK / seconds
                r["ticks"] = b["ticks"] - a["ticks"]
                r["cpu_sched"] = 100 * (b["run_ns"] - a["run_ns"]) / 1e9 / seconds
                r["wakeups"] = (b["switches"] - a["switches"]) / seconds
                r["wait_ms"] = (b["wait_ns"] - a["wait_ns"]) / 1e6 / seconds
            r["hwm_kb"] = final[d.name]["hwm_kb"]
            results[(d.name, mode)] = r
    return results


def fmt_ms(v):
    return "–" if v is None else (f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms")


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "–"
    return f"×{a / b:.0f}" if a / b >= 10 else f"×{a / b:.1f}"


def report(args, daemons, cycles, results, windows, busy, load, start_sec,
           hello, bench_cpu, final, scraped=None):
    out = []
    p = out.append
    first, last = min(windows.values())[0], max(windows.values())[1]
    b0, b1 = busy.get(first), busy.get(last)
    machine = "?"
    if b0 and b1 and b1[2] > b0[2]:
        total = b1[2] - b0[2]
        machine = (f"{100 * (b1[0] - b0[0]) / total:.0f} % busy (steal "
                   f"{100 * (b1[1] - b0[1]) / total:.1f} %)")
    sizes = sorted({c["bytes"] for c in cycles.values()})
    capture_cycles = load_cycles(args.capture)
    p(f"## shmrefclock vs gpsd: {'UBX' if args.ubx else 'NMEA'} receive stamps")
    p("")
    what = (f"the UBX epochs of a u-blox timing receiver ({UBX_DESCRIPTION}; "
            f"times of each second)" if args.ubx else
            f"the {len(capture_cycles)} cycles of "
            f"`{os.path.relpath(args.capture, REPO)}` in order "
            f"({cycle_description(capture_cycles)}; times rewritten)")
    p(f"- command: `{os.environ.get(CMDLINE_ENV) or shlex.join(sys.argv)}`")
    p(f"- machine: {machine_description()}")
    p(f"- versions: {tool_version([args.binary, '--version'])} "
      f"(tree {git_revision()}; {args.binary}); "
      f"{tool_version([args.gpsd, '-V'])}")
    p(f"- run: {datetime.datetime.fromtimestamp(start_sec, datetime.timezone.utc):%Y-%m-%d %H:%M:%SZ}, "
      f"{args.warmup} warm-up + {args.repeats} × {args.paced_cycles} paced + {args.cycles} "
      f"burst cycles, one a second, first byte {args.phase * 1000:.0f} ms "
      f"after the second; {what}, "
      f"{sizes[0]}–{sizes[-1]} bytes as sent; paced = one "
      f"byte every {10_000 / args.baud:.4f} ms ({args.baud} baud 8N1) on "
      f"an absolute schedule, burst = one write per cycle")
    twin = (f"; a second shmrefclock reads its own TCP copy "
            f"(unit {args.unit + 1}), the same transport as gpsd"
            if args.tcp_twin else "")
    p(f"- channels: shmrefclock reads a pty (unit {args.unit}). **gpsd "
      f"writes no SHM for pty sources, so it reads the same bytes from "
      f"`tcp://127.0.0.1:PORT`** (unit 0; TCP_NODELAY, one send per byte "
      f"when paced){twin}. Each byte goes to "
      f"{'the pty first, then the sockets' if args.pty_first else 'the sockets first, then the pty'}"
      f"; latency is taken against each channel's own first write. "
      f"Private network and IPC namespaces; gpsd in an IPC namespace of "
      f"its own (it creates units 0-7 at start)")
    p(f"- scheduling: feeder {hello['sched']}; daemons as running: "
      + ", ".join(f"{d.label} {final[d.name]['sched']}" for d in daemons)
      + " (gpsd renices itself to -10 when run as root); daemon CPUs "
      f"{args.daemon_cpus or 'any'}; SHM polled every {args.poll_ms:g} ms, "
      f"never from 3 ms before to 5 ms after a cycle's first byte")
    pacing = [c for c in cycles.values() if c["mode"] == "paced"]
    if pacing:
        med = statistics.median(c["late_median_ns"] for c in pacing) / 1e3
        worst = sorted(c["late_max_ns"] for c in pacing)
        p(f"- pacing: bytes written a median {med:.0f} µs after their "
          f"scheduled instant; the latest byte of a cycle: median "
          f"{statistics.median(worst) / 1e3:.0f} µs, worst "
          f"{worst[-1] / 1e3:.0f} µs")
    p(f"- load: 1/5/15-min load average {load.get(first, '?')} at the "
      f"start, {load.get(last, '?')} at the end; all CPUs {machine} over "
      f"the measured cycles, of which the bench itself "
      f"{bench_cpu:.1f} % of one core")
    p("")
    p("| daemon | mode | samples | latency median | latency p99 | jitter (std dev) "
      "| chrony std dev | CPU (stat) | CPU (schedstat) | wake-ups/s | peak RSS |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    order = {"shmrefclock": 0, "shmrefclock-tcp": 1, "shmrefclock-metrics": 2,
             "gpsd": 3}
    names = sorted((d.name for d in daemons), key=order.get)
    by_name = {d.name: d for d in daemons}
    labels = {d.name: d.label for d in daemons}
    for mode in windows:
        label = "paced 9600" if mode == "paced" and args.baud == 9600 else (
            f"paced {args.baud}" if mode == "paced" else "burst")
        for name in names:
            r = results[(name, mode)]
            p(f"| {labels[name]} | {label} | {r['matched']}/{r['expected']} "
              f"| {fmt_ms(r.get('median'))} | {fmt_ms(r.get('p99'))} "
              f"| {fmt_ms(r.get('jitter'))} "
              f"| {fmt_spread(chrony_spread(r, 'sd_s')) if mode == 'paced' else '–'} "
              f"| {r['cpu']:.2f} % | {r['cpu_sched']:.3f} % "
              f"| {r['wakeups']:.1f} | {r['hwm_kb'] / 1024:.1f} MB |"
              if "cpu" in r else f"| {labels[name]} | {label} | – |")
        g = results.get(("gpsd", mode))
        for name in names:
            if name in ("gpsd", "shmrefclock-metrics") or g is None:
                continue
            s = results[(name, mode)]
            p(f"| **gpsd / {labels[name]}** | {label} | "
              f"| {ratio(g.get('median'), s.get('median'))} "
              f"| {ratio(g.get('p99'), s.get('p99'))} "
              f"| {ratio(g.get('jitter'), s.get('jitter'))} "
              f"| {ratio(chrony_sd(g), chrony_sd(s))} "
              f"| {ratio(g.get('cpu'), s.get('cpu')) if min(g.get('ticks', 0), s.get('ticks', 0)) >= 5 else '–'} "
              f"| {ratio(g.get('cpu_sched'), s.get('cpu_sched'))} "
              f"| {ratio(g.get('wakeups'), s.get('wakeups'))} "
              f"| {ratio(g.get('hwm_kb'), s.get('hwm_kb'))} |")
    p("")
    p("Latency = SHM receiveTimeStamp − CLOCK_REALTIME just before the "
      "cycle's first byte was written to that daemon's channel; jitter = "
      "sample std dev of the latency; p99 = nearest rank. CPU = utime+stime "
      "(/proc/PID/stat, 10 ms ticks) and sum_exec_runtime (schedstat, ns) "
      "over each mode's window, % of one core. Wake-ups = context switches "
      "a second. Peak RSS = VmHWM at the end of the run (one figure for both "
      "modes). A ratio is left out (–) where a CPU (stat) figure is under 5 "
      "ticks.")
    stats = [(n, results[(n, "paced")].get("chrony"))
             for n in names if (n, "paced") in results]
    stats = [(n, st) for n, st in stats if st]
    if stats:
        p("")
        p(f"### chrony's view, {args.repeats} repeats of the paced phase")
        p("")
        p("chrony std dev = the Std Dev column of `chronyc -c sourcestats` "
          f"read at the end of each repeat ({args.paced_cycles} cycles; "
          "chrony's regression keeps at most 64 samples, so each repeat's "
          "figure is its own), from `chronyd -x` (it never "
          "touches the clock) reading the daemon's SHM unit with "
          f"`refclock SHM N refid XXXX {CHRONY_OPTIONS}` (one reading a "
          "second, each a measurement, nothing averaged; gpsd's unit by a "
          "second chronyd in gpsd's IPC namespace); readings std dev = the "
          "std dev of all the readings chrony took in the repeat "
          "(refclocks.log's raw offsets). Median (min–max) over the "
          "repeats; the byte order alternates between them (even repeats "
          f"{'the pty' if args.pty_first else 'the sockets'} first).")
        p("")
        p("| daemon | chrony std dev | readings std dev | samples in "
          "chrony's regression | offset (median) |")
        p("|---|---|---|---|---|")
        for n, repeats_st in stats:
            nps = sorted(st["np"] for st in repeats_st)
            offset = statistics.median(st["offset_s"] for st in repeats_st)
            p(f"| {labels[n]} | {fmt_spread(chrony_spread(results[(n, 'paced')], 'sd_s'))} "
              f"| {fmt_spread(chrony_spread(results[(n, 'paced')], 'readings_sd_s'))} "
              f"| {nps[len(nps) // 2]} ({nps[0]}–{nps[-1]}) "
              f"| {offset * 1e3:+.3f} ms |")
        verdicts = spread_verdicts(names, labels, results)
        if verdicts:
            p("")
            p("; ".join(verdicts) + ".")
    p("")
    p("Samples whose second was never sent, or sent once and published "
      "twice: " + ", ".join(f"{labels[n]} {by_name[n].unmatched}"
                            for n in names) + ".")
    p("")
    p("Late stamps (more than 0.5 ms after the median; a few of these carry "
      "the std dev): " + ", ".join(
          f"{labels[n]} {m} {results[(n, m)].get('outliers', 0)}"
          for n in names for m in windows) + ".")
    waits = []
    for name in names:
        for mode in windows:
            r = results[(name, mode)]
            if r.get("wakeups"):
                waits.append(f"{labels[name]} {mode} "
                             f"{1000 * r['wait_ms'] / r['wakeups']:.0f} µs")
    if waits:
        p("")
        p("Mean run-queue wait per wake-up (schedstat; how long a woken "
          "daemon waited for a CPU): " + ", ".join(waits) + ".")
    p("")
    p("### Targets (issue 3, \"Done when\" 6; the design's aims)")
    p("")
    sp = results.get(("shmrefclock", "paced"), {})
    gp = results.get(("gpsd", "paced"), {})
    sb = results.get(("shmrefclock", "burst"), {})
    checks = [
        ("paced median latency < 1 ms (aim 0.15 ms)", sp.get("median"), 1.0, 0.15),
        ("paced p99 latency (aim < 0.5 ms)", sp.get("p99"), None, 0.5),
        ("paced jitter < 0.2 ms (aim 0.05 ms)", sp.get("jitter"), 0.2, 0.05),
        ("burst median latency (aim < 0.08 ms)", sb.get("median"), None, 0.08),
    ]
    for text, value, floor, aim in checks:
        verdict = []
        if value is None:
            verdict.append("NO DATA")
        else:
            if floor is not None:
                verdict.append("PASS" if value < floor else "MISS")
            verdict.append("aim met" if value < aim else "aim missed")
        p(f"- {text}: {fmt_ms(value)}: {', '.join(verdict)}")
    if "cpu_sched" in sp and "cpu_sched" in gp:
        p(f"- CPU below gpsd's, paced: {sp['cpu_sched']:.3f} % vs "
          f"{gp['cpu_sched']:.3f} % (schedstat): "
          f"{'PASS' if sp['cpu_sched'] < gp['cpu_sched'] else 'MISS'}; "
          f"{'aim met' if sp['cpu_sched'] < 0.1 else 'aim missed'} (< 0.1 %)")
    if "hwm_kb" in sp and "hwm_kb" in gp:
        p(f"- peak RSS below gpsd's: {sp['hwm_kb'] / 1024:.1f} MB vs "
          f"{gp['hwm_kb'] / 1024:.1f} MB: "
          f"{'PASS' if sp['hwm_kb'] < gp['hwm_kb'] else 'MISS'}; "
          f"{'aim met' if sp['hwm_kb'] < 4096 else 'aim missed'} (< 4 MB)")
    p("")
    p("Peak RSS at the end, anonymous + file-backed (shared libraries and "
      "the binary, as mapped): " + ", ".join(
          f"{labels[n]} {final[n]['anon_kb'] / 1024:.1f} + "
          f"{final[n]['file_kb'] / 1024:.1f} MB" for n in names) + ".")
    if scraped is not None:
        metrics_report(p, args, results, windows, final, scraped)
    print("\n".join(out), flush=True)


def chrony_sd(r):
    """The median over the repeats of chrony's sourcestats std dev, ms."""
    spread = chrony_spread(r, "sd_s")
    return spread[0] if spread else None


def chrony_spread(r, key):
    """(median, min, max) in ms of `key` ("sd_s" or "readings_sd_s") over
    the repeats of the paced phase, or None."""
    repeats = r.get("chrony") if r else None
    values = sorted(st[key] * 1e3 for st in repeats or ()
                    if st.get(key) is not None)
    if not values:
        return None
    return statistics.median(values), values[0], values[-1]


def fmt_spread(spread):
    if spread is None:
        return "–"
    median, lo, hi = spread
    return f"{fmt_ms(median)} ({lo:.3f}–{hi:.3f})"


def spread_verdicts(names, labels, results):
    """One sentence per shmrefclock channel against gpsd: is the difference
    of chrony's median std dev larger than the spread of the repeats (their
    ranges do not overlap), or not."""
    g = chrony_spread(results.get(("gpsd", "paced")), "sd_s")
    out = []
    for name in names:
        if name == "gpsd" or g is None:
            continue
        s = chrony_spread(results.get((name, "paced")), "sd_s")
        if s is None:
            continue
        if s[2] < g[1] or g[2] < s[1]:
            better = labels[name] if s[0] < g[0] else labels["gpsd"]
            out.append(f"{labels[name]} against {labels['gpsd']}: the ranges "
                       f"do not overlap, so the difference ({fmt_ms(s[0])} "
                       f"vs {fmt_ms(g[0])}) is larger than the spread; "
                       f"{better} is steadier in chrony's view")
        else:
            out.append(f"{labels[name]} against {labels['gpsd']}: the ranges "
                       f"overlap ({s[1]:.3f}–{s[2]:.3f} vs {g[1]:.3f}–"
                       f"{g[2]:.3f} ms), so the difference is not larger "
                       f"than the spread")
    return out


def metrics_report(p, args, results, windows, final, scraped):
    """The metrics listener's cost: the same shmrefclock with and without
    `[daemon] metrics`, fed the same TCP bytes, nobody scraping; then the
    peak RSS again after the scrapes."""
    p("")
    p(f"#### The metrics endpoint (`[daemon] metrics = \"127.0.0.1:"
      f"{args.metrics_port}\"`)")
    p("")
    base = final.get("shmrefclock-tcp")
    on = final["shmrefclock-metrics"]
    if base is None:
        p("No shmrefclock (TCP) without metrics ran (--no-tcp-twin or "
          "--only): nothing to compare with.")
        return
    diff_kb = scraped["before"]["hwm_kb"] - base["hwm_kb"]
    p("| | shmrefclock (TCP) | shmrefclock (TCP, metrics) | difference |")
    p("|---|---|---|---|")
    p(f"| peak RSS, nobody scraping | {base['hwm_kb'] / 1024:.2f} MB "
      f"| {scraped['before']['hwm_kb'] / 1024:.2f} MB "
      f"| {diff_kb / 1024:+.2f} MB |")
    p(f"| of which anonymous | {base['anon_kb'] / 1024:.2f} MB "
      f"| {scraped['before']['anon_kb'] / 1024:.2f} MB "
      f"| {(scraped['before']['anon_kb'] - base['anon_kb']) / 1024:+.2f} MB |")
    for mode in windows:
        a = results.get(("shmrefclock-tcp", mode), {})
        b = results.get(("shmrefclock-metrics", mode), {})
        if "cpu_sched" in a and "cpu_sched" in b:
            p(f"| CPU (schedstat), {mode}, nobody scraping "
              f"| {a['cpu_sched']:.3f} % | {b['cpu_sched']:.3f} % "
              f"| {b['cpu_sched'] - a['cpu_sched']:+.3f} % |")
            p(f"| wake-ups/s, {mode} | {a['wakeups']:.1f} "
              f"| {b['wakeups']:.1f} | {b['wakeups'] - a['wakeups']:+.1f} |")
    after_kb = scraped["after"]["hwm_kb"]
    p(f"| peak RSS after {args.scrapes} GETs of /metrics and of / "
      f"| | {after_kb / 1024:.2f} MB "
      f"| {(after_kb - base['hwm_kb']) / 1024:+.2f} MB |")
    run_ms = (scraped["after"]["run_ns"] - scraped["before"]["run_ns"]) / 1e6
    sizes = scraped["sizes"]
    p("")
    p(f"The {2 * args.scrapes} GETs (answers of {sizes.get('/metrics', 0)} "
      f"bytes for /metrics and {sizes.get('/', 0)} for /) took "
      f"{scraped['elapsed_s'] * 1e3:.0f} ms, of which the daemon ran "
      f"{run_ms:.1f} ms ({run_ms / (2 * args.scrapes):.2f} ms a request). "
      f"Target (issue 10, \"Done when\" 6): under 0.5 MB of peak RSS with "
      f"nobody scraping: {diff_kb / 1024:+.2f} MB: "
      f"{'PASS' if diff_kb < 512 else 'MISS'}. CPU with nobody scraping: "
      "the difference rows above; an idle listener is one more descriptor "
      "in the event loop and adds no wake-up, so the wake-ups/s match when "
      "it costs nothing. Its copy of each byte is written after the pty's.")


def write_csv(path, daemons, cycles, windows):
    with open(path, "w") as f:
        f.write("daemon,mode,second,first_byte_ns,receive_ns,latency_ms,"
                "seen_ns\n")
        for d in daemons:
            for clock_sec, _cns, receive_ns, seen in d.samples:
                c = cycles.get(clock_sec)
                if c is None:
                    continue
                first = c["first_ns"][d.channel]
                lat = (receive_ns - first) / 1e6
                f.write(f"{d.name},{mode_of(clock_sec, windows) or 'warm-up'},"
                        f"{clock_sec},{first},{receive_ns},{lat:.6f},"
                        f"{seen}\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_feeder":
        return feeder_main(sys.argv[3:], sys.argv[2])
    parser = argparse.ArgumentParser(
        description="Benchmark shmrefclock against gpsd on the same NMEA "
                    "cycles (see the module docstring).")
    parser.add_argument("--cycles", type=int, default=100,
                        help="measured burst cycles (default 100)")
    parser.add_argument("--paced-cycles", type=int, default=100,
                        help="measured paced cycles of each repeat (default "
                             "100: more than the 64 samples chrony's "
                             "regression keeps)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeats of the paced phase, chrony's view read "
                             "at the end of each, the byte order alternating "
                             "(default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="5 warm-up, 30 paced and 15 burst cycles")
    parser.add_argument("--no-chrony", dest="chrony", action="store_false",
                        help="do not run chronyd -x on the daemons' units")
    parser.add_argument("--no-metrics", dest="metrics", action="store_false",
                        help="leave out the shmrefclock with the metrics "
                             "listener on")
    parser.add_argument("--metrics-port", type=int, default=9463,
                        help="its listener's port on 127.0.0.1 (in the "
                             "bench's network namespace; default 9463)")
    parser.add_argument("--scrapes", type=int, default=20,
                        help="GETs of /metrics and of / after the run "
                             "(default 20 each)")
    parser.add_argument("--warmup", type=int, default=6,
                        help="paced cycles before measuring (gpsd ships time "
                             "to NTP after 3 fixes; default 6)")
    parser.add_argument("--ubx", action="store_true",
                        help="a u-blox timing receiver's UBX epochs instead "
                             "of the NMEA capture, at 115200 baud unless "
                             "--baud says otherwise")
    parser.add_argument("--baud", type=int, default=None,
                        help="line rate of the paced mode and the daemons' "
                             "configured baud (default 9600, 115200 with --ubx)")
    parser.add_argument("--phase", type=float, default=0.1,
                        help="first byte this long after the second (s, "
                             "default 0.1)")
    parser.add_argument("--unit", type=int, default=2,
                        help="shmrefclock's SHM unit (default 2; the TCP twin "
                             "takes UNIT+1; gpsd has its own IPC namespace)")
    parser.add_argument("--binary",
                        help="daemon to measure (default: build an optimized "
                             "copy in --build-dir)")
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build-bench"),
                        help="meson build directory for the optimized copy "
                             "(default build-bench; release, tests disabled)")
    parser.add_argument("--gpsd", default=shutil.which("gpsd") or "/usr/sbin/gpsd",
                        help="gpsd binary (default: gpsd on PATH)")
    parser.add_argument("--poll-ms", type=float, default=5.0,
                        help="SHM polling period (default 5 ms)")
    parser.add_argument("--daemon-nice", type=int, default=0,
                        help="nice both daemons by this much")
    parser.add_argument("--daemon-fifo", type=int, default=0, metavar="PRIO",
                        help="run both daemons SCHED_FIFO at PRIO (1-49; the "
                             "feeder is 50), as chronyd -P or systemd's "
                             "CPUSchedulingPolicy=fifo would")
    parser.add_argument("--sched-priority", type=int, default=0, metavar="PRIO",
                        help="shmrefclock's [daemon] sched-priority = PRIO and "
                             "lock-memory = true (1-49; the feeder is 50); gpsd "
                             "has no such option: compare with --daemon-fifo")
    parser.add_argument("--daemon-cpus",
                        help="pin both daemons to these CPUs (e.g. 1 or 0-1)")
    parser.add_argument("--capture", default=DEFAULT_CAPTURE,
                        help="NMEA capture the cycles come from (default "
                             "tests/data/nmea-captures/neo-m8n.log)")
    parser.add_argument("--no-tcp-twin", dest="tcp_twin", action="store_false",
                        help="do not also run shmrefclock on the TCP stream "
                             "(on --unit + 1), the same transport as gpsd")
    parser.add_argument("--pty-first", action="store_true",
                        help="write each byte to the pty before the sockets "
                             "(default: after)")
    parser.add_argument("--only",
                        help="run only these, comma-separated: shmrefclock, "
                             "gpsd, shmrefclock-tcp, shmrefclock-metrics (to "
                             "measure one without the others competing for "
                             "the CPUs)")
    parser.add_argument("--samples-csv", help="write every matched sample here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory with the logs")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.paced_cycles, args.warmup = 15, 30, 5
        args.repeats = 2
    if args.baud is None:
        args.baud = 115200 if args.ubx else 9600
    if os.environ.get(NS_GUARD) != "1":
        os.environ[CMDLINE_ENV] = shlex.join(
            [os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])
        if os.geteuid() != 0:
            sys.exit("bench: run as root (IPC/net namespaces, gpsd's SHM units "
                     "0/1, a SCHED_FIFO feeder)")
        if not args.binary:
            args.binary = build(args.build_dir)
            sys.argv += ["--binary", args.binary]
        if not os.access(args.gpsd, os.X_OK):
            sys.exit(f"bench: no gpsd at {args.gpsd}")
        if args.chrony and not (os.access(CHRONYD, os.X_OK) and
                                os.access(CHRONYC, os.X_OK)):
            sys.exit(f"bench: no {CHRONYD} or chronyc (the chrony package; "
                     "--no-chrony to leave chrony out)")
        reexec_in_namespaces()
    args.binary = os.path.abspath(args.binary)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
