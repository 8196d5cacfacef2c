#!/usr/bin/env python3
"""Where the daemon's memory goes (issue 22): the peak resident set of the
build a user gets, and what each part of it costs.

The daemon (the bench build, bench/bench.py's: the project's default
buildtype) runs with one nmea refclock on a pty fed a cycle a second, one
pps refclock locked to it (/dev/pps0 from the PPS emulator, which the tests'
build provides; its own mapping is left out of the totals), metrics on and
the control socket, in a private IPC and network namespace. After --warmup
seconds it is asked what its users ask (GET /metrics and / --requests
times, `status` and `status history` on the control socket), and after
--seconds in all its mappings are read from /proc/PID/smaps and grouped:
the binary, each shared library, the heap, thread stacks and other
anonymous memory. Peak = VmHWM, the figure bench.py reports.

Usage: sudo bench/memory.py [--binary B] [--emulator LIB]
See bench/README.md.
"""

import argparse
import collections
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the build, the NMEA cycle, /proc helpers)

NS_GUARD = "SHMREFCLOCK_MEMORY_IN_NS"


def smaps_groups(pid, leave_out):
    """{group: {"rss": kB, "pss": kB, "private": kB}} from /proc/PID/smaps."""
    groups = collections.defaultdict(lambda: collections.Counter())
    group = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if not head[0].endswith(":"):  # a mapping's header line
                name = " ".join(head[5:]) if len(head) > 5 else ""
                if name == "[heap]":
                    group = "heap (brk)"
                elif name.startswith("[stack"):
                    group = "main thread stack"
                elif name in ("[vdso]", "[vvar]", "[vsyscall]"):
                    group = "vdso, vvar"
                elif name == "":
                    group = "anonymous (malloc arenas, thread stacks)"
                elif name.startswith("/SYSV"):
                    group = "SysV segments (SHM units)"
                else:
                    group = os.path.basename(name)
                if leave_out and leave_out in name:
                    group = None
                continue
            if group is None:
                continue
            key = head[0][:-1]
            if key == "Rss":
                groups[group]["rss"] += int(head[1])
            elif key == "Pss":
                groups[group]["pss"] += int(head[1])
            elif key in ("Private_Clean", "Private_Dirty"):
                groups[group]["private"] += int(head[1])
    return groups


def status_field(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def feed(masters, stop):
    """A cycle a second to each pty, its first byte 0.1 s after the second."""
    cycle = bench.BUILTIN_CYCLE
    while not stop.is_set():
        now = bench.realtime_ns()
        second = now // bench.NS_PER_S + 1
        bench.sleep_until(second * bench.NS_PER_S + 100_000_000)
        data = bench.nmea_cycle(cycle, second)
        for master in masters:
            try:
                os.write(master, data)
            except OSError:
                pass


def ask_control(path, request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="the daemon (default: the bench build's)")
    parser.add_argument("--build-dir", default=os.path.join(bench.REPO, "build-bench"))
    parser.add_argument("--emulator", default=os.path.join(
        bench.REPO, "build", "tests", "pps-emulator", "libpps_emulator.so"),
        help="the PPS emulator (the tests' build has it)")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--port", type=int, default=9463)
    parser.add_argument("--gpsd", default=shutil.which("gpsd") or "/usr/sbin/gpsd",
                        help="gpsd, measured beside the daemon on the same cycles")
    parser.add_argument("--no-gpsd", dest="with_gpsd", action="store_false")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("memory: run as root (private IPC and network namespaces)")
    if os.environ.get(NS_GUARD) != "1":
        os.execve(shutil.which("unshare"),
                  ["unshare", "--ipc", "--net", "--", sys.executable,
                   os.path.abspath(__file__)] + sys.argv[1:],
                  dict(os.environ, **{NS_GUARD: "1"}))
    if not os.path.isfile(args.emulator):
        sys.exit(f"memory: no PPS emulator at {args.emulator} "
                 "(meson setup build -Dtests=enabled && ninja -C build)")
    bench.loopback_up()
    binary = args.binary or bench.build(args.build_dir)
    tmp = tempfile.mkdtemp(prefix="shmrefclock-memory-")
    master, slave = os.openpty()
    tty.setraw(slave)
    control = os.path.join(tmp, "control")
    config = os.path.join(tmp, "memory.conf")
    with open(config, "w") as f:
        f.write(f'[daemon]\nmetrics = "127.0.0.1:{args.port}"\ncontrol = "{control}"\n'
                f'[[refclock]]\nname = "gps"\nsource = "nmea"\n'
                f'device = "{os.ttyname(slave)}"\nunit = 0\nmin-fixes = 1\n'
                f'[[refclock]]\nname = "pps"\nsource = "pps"\ndevice = "/dev/pps0"\n'
                f'unit = 1\nlock = "gps"\n')
    env = dict(os.environ, LD_PRELOAD=args.emulator,
               SHMREFCLOCK_PPS_EMULATE="/dev/pps0", SHMREFCLOCK_PPS_OFFSET_NS="20000")
    stop = threading.Event()
    masters = [master]
    gpsd = None
    if args.with_gpsd:
        # The same cycles on a pty of its own, with the same /dev/pps0
        # (the emulator preloaded into it too), in an IPC namespace of its
        # own (it creates units 0-7 at start): its peak RSS beside ours.
        gpsd_master, gpsd_slave = os.openpty()
        tty.setraw(gpsd_slave)
        masters.append(gpsd_master)
        gpsd_log = open(os.path.join(tmp, "gpsd.log"), "w")
        gpsd = subprocess.Popen(
            ["unshare", "--ipc", "--", args.gpsd, "-N", "-n", "-b", "-D", "0",
             "-S", "2947", "-F", os.path.join(tmp, "gpsd.sock"),
             os.ttyname(gpsd_slave), "/dev/pps0"],
            stdout=gpsd_log, stderr=subprocess.STDOUT, env=env)
    feeder = threading.Thread(target=feed, args=(masters, stop), daemon=True)
    feeder.start()
    log = open(os.path.join(tmp, "daemon.log"), "w")
    proc = subprocess.Popen([binary, "-c", config], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    asked = collections.Counter()
    try:
        time.sleep(args.warmup)
        if proc.poll() is not None:
            sys.exit(f"memory: the daemon exited with {proc.returncode}; see {log.name}")
        for _ in range(args.requests):
            for path in ("/metrics", "/"):
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}{path}",
                                            timeout=5) as reply:
                    asked[path] += len(reply.read()) > 0
            for request in (b"status\n", b"status history\n"):
                asked[request.decode().strip()] += b'"pid"' in ask_control(control, request)
            time.sleep(0.2)
        time.sleep(max(0.0, args.seconds - args.warmup - args.requests * 0.2))
        groups = smaps_groups(proc.pid, os.path.basename(args.emulator))
        hwm = status_field(proc.pid, "VmHWM")
        rss = status_field(proc.pid, "VmRSS")
        threads = status_field(proc.pid, "Threads")
        emulator_rss = sum(g["rss"] for g in smaps_groups(proc.pid, None).values()) - sum(
            g["rss"] for g in groups.values())
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{args.port}/metrics",
                                         timeout=5).read().decode()
        gpsd_hwm = None
        if gpsd is not None:
            if gpsd.poll() is not None:
                sys.exit(f"memory: gpsd exited with {gpsd.returncode}; see {gpsd_log.name}")
            gpsd_hwm = status_field(gpsd.pid, "VmHWM")
    finally:
        stop.set()
        for running in (proc, gpsd):
            if running is not None and running.poll() is None:
                running.send_signal(signal.SIGTERM)
                running.wait(timeout=10)
    published = {line.split("{")[1].split("}")[0]: line.split()[-1]
                 for line in metrics.splitlines()
                 if line.startswith("shmrefclock_samples_published_total{")}
    print(f"### bench/memory.py, {datetime.date.today()}\n")
    print(f"- command: `bench/memory.py {' '.join(sys.argv[1:])}`")
    print(f"- daemon: {binary} ({bench.git_revision()}); one nmea refclock (a cycle a "
          f"second), one pps refclock locked to it, metrics and the control socket on; "
          f"{threads} threads at the end")
    print(f"- asked: {dict(asked)}; published: {published}")
    print(f"- machine: {bench.machine_description()}\n")
    print(f"Peak RSS (VmHWM) **{hwm / 1024:.2f} MB**, RSS at the end {rss / 1024:.2f} MB "
          f"(the PPS emulator's own {emulator_rss} kB left out of the parts below, not "
          f"of these two).\n")
    if gpsd_hwm is not None:
        print(f"gpsd ({bench.tool_version([args.gpsd, '-V'])}) on the same cycles, on a pty of "
              f"its own with the same /dev/pps0, in the same run: peak RSS (VmHWM) "
              f"**{gpsd_hwm / 1024:.2f} MB**; shmrefclock's is "
              f"{'below' if hwm < gpsd_hwm else 'NOT below'} it.\n")
    print("| part | RSS (kB) | PSS (kB) | private (kB) |")
    print("|---|---:|---:|---:|")
    for name, g in sorted(groups.items(), key=lambda item: -item[1]["rss"]):
        print(f"| {name} | {g['rss']} | {g['pss']} | {g['private']} |")
    total = collections.Counter()
    for g in groups.values():
        total.update(g)
    print(f"| **total** | **{total['rss']}** | **{total['pss']}** | **{total['private']}** |")
    print("\n" + json.dumps({"hwm_kb": hwm, "rss_kb": rss, "gpsd_hwm_kb": gpsd_hwm,
                              "groups": groups}))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
