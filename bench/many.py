#!/usr/bin/env python3
"""Many receivers (issue 22): N NMEA receivers at R Hz on ptys, one daemon,
and what it costs: CPU (% of one core) and wake-ups a second.

Each receiver is a pty written by this script's feeder, a child process at
SCHED_FIFO 50 standing in for the UART hardware. All receivers start their
epochs at the same instant, every 1/R s, as GPS receivers locked to the same
time do: RMC, GGA and GSA naming the epoch (tenths of a second), each
sentence written whole once the line rate (--baud, 10 bits a byte) would
have delivered it, as a UART's driver hands a line's bytes on in bursts.
The daemon has one nmea refclock per receiver (units 0..N-1, min-fixes 1,
in a private IPC namespace); gpsd is measured after it on the same feed
(its devices the same ptys, -n, no SHM for pty sources), unless --no-gpsd.

Measured over --seconds after --warmup: CPU = the daemon's threads' run
time (/proc/PID/task/*/schedstat) over the wall time; wake-ups = voluntary
+ involuntary context switches of all its threads per second
(/proc/PID/task/*/status); peak RSS (VmHWM). Every receiver's unit must
publish samples during the window, or the run fails.

The floor: bench/waker.c, built with cc, wakes as often as the daemon did
(its wake-ups a second) on a timerfd and does nothing else; its CPU,
measured the same way right after the daemon, is what the machine charges
for the wake-ups alone. The daemon's CPU above it is its work.

Usage: sudo bench/many.py [--receivers 16] [--rate 10] [--seconds 60]
See bench/README.md.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the segment reader, /proc helpers, the build)

NS_PER_S = 1_000_000_000
NS_GUARD = "SHMREFCLOCK_MANY_IN_NS"


def epoch_sentences(t_ns):
    """RMC, GGA and GSA of the epoch at `t_ns` (POSIX ns, a whole tenth)."""
    utc = datetime.datetime.fromtimestamp(t_ns // NS_PER_S, datetime.timezone.utc)
    tenth = (t_ns % NS_PER_S) // 100_000_000
    hms = utc.strftime("%H%M%S") + f".{tenth}0"
    date = utc.strftime("%d%m%y")
    bodies = [
        f"GPRMC,{hms},A,4404.1351,N,12118.8556,W,0.04,359.11,{date},,,A",
        f"GPGGA,{hms},4404.1351,N,12118.8556,W,1,08,0.9,1123.9,M,-19.6,M,,",
        "GNGSA,A,3,05,13,15,18,20,23,24,29,,,,,1.8,0.9,1.5",
    ]
    return [bench.fake_receiver.sentence(b) for b in bodies]


def feeder(masters, rate, baud, stop_at_ns):
    """Writes every receiver's epochs until `stop_at_ns` (CLOCK_REALTIME)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    except OSError:
        pass
    period = NS_PER_S // rate
    byte_ns = 10 * NS_PER_S // baud
    now = bench.realtime_ns()
    epoch = (now // period + 2) * period
    while epoch < stop_at_ns:
        sentences = epoch_sentences(epoch)
        offset = 0
        for sentence in sentences:
            offset += len(sentence) * byte_ns
            bench.sleep_until(epoch + offset)
            for fd in masters:
                try:
                    os.write(fd, sentence)
                except BlockingIOError:
                    pass  # nobody reads (gpsd between runs): drop it
        epoch += period
    return 0


def usage_of(pid):
    """(run ns, context switches) summed over the threads of `pid`."""
    run_ns = switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        switches += int(line.split(":")[1])
        except OSError:
            pass  # a thread that ended
    return run_ns, switches


def build_waker(build_dir):
    """bench/waker.c, compiled into `build_dir`."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "waker.c")
    binary = os.path.join(build_dir, "bench-waker")
    os.makedirs(build_dir, exist_ok=True)
    bench.run_checked(["cc", "-O2", "-Wall", "-Werror", "-o", binary, source])
    return binary


def measure(name, proc, args, units):
    """Warm up, then measure the window; returns the figures."""
    segments = [bench.Segment(unit) for unit in units]
    deadline = time.monotonic() + args.warmup
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return {"name": name, "exited": proc.returncode}
        for segment in segments:
            segment.poll()
        time.sleep(0.05)
    run0, switches0 = usage_of(proc.pid)
    t0 = time.monotonic()
    published = [0] * len(segments)
    # Poll the segments twice a second: enough to see that each unit
    # publishes, little enough not to disturb the measurement.
    while time.monotonic() - t0 < args.seconds:
        time.sleep(0.5)
        for i, segment in enumerate(segments):
            if segment.poll() is not None:
                published[i] += 1
    run1, switches1 = usage_of(proc.pid)
    elapsed = time.monotonic() - t0
    return {
        "name": name,
        "cpu_percent": 100.0 * (run1 - run0) / (elapsed * NS_PER_S),
        "wakeups_per_s": (switches1 - switches0) / elapsed,
        "peak_rss_kb": bench.proc_usage(proc.pid)["hwm_kb"],
        "units_publishing": sum(1 for n in published if n > 0),
        "elapsed_s": elapsed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receivers", type=int, default=16)
    parser.add_argument("--rate", type=int, default=10, choices=(1, 2, 5, 10),
                        help="epochs a second (default 10)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="the measured window per daemon (default 60)")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--binary", help="the daemon (default: the bench build's)")
    parser.add_argument("--build-dir", default=os.path.join(bench.REPO, "build-bench"))
    parser.add_argument("--gpsd", default=shutil.which("gpsd") or "/usr/sbin/gpsd")
    parser.add_argument("--no-gpsd", dest="with_gpsd", action="store_false")
    parser.add_argument("--sched-priority", type=int, default=0, metavar="PRIO",
                        help="[daemon] sched-priority = PRIO (1-49)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("many: run as root (a private IPC namespace, a SCHED_FIFO feeder)")
    if os.environ.get(NS_GUARD) != "1":
        os.execve(shutil.which("unshare"),
                  ["unshare", "--ipc", "--", sys.executable, os.path.abspath(__file__)]
                  + sys.argv[1:], dict(os.environ, **{NS_GUARD: "1"}))
    binary = args.binary or bench.build(args.build_dir)
    waker = build_waker(args.build_dir)

    tmp = tempfile.mkdtemp(prefix="shmrefclock-many-")
    masters, slaves = [], []
    for _ in range(args.receivers):
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        masters.append(master)
        slaves.append(os.ttyname(slave))
    units = list(range(args.receivers))
    config = os.path.join(tmp, "many.conf")
    with open(config, "w") as f:
        f.write('[daemon]\ncontrol = ""\n')
        if args.sched_priority:
            f.write(f"sched-priority = {args.sched_priority}\n")
        for unit, device in zip(units, slaves):
            f.write(f'[[refclock]]\nname = "gps{unit}"\nsource = "nmea"\n'
                    f'device = "{device}"\nbaud = {args.baud}\nunit = {unit}\n'
                    f"min-fixes = 1\n")
    runs = [("shmrefclock", [binary, "-c", config], units)]
    if args.with_gpsd:
        # gpsd's own units: it writes no SHM for ptys, so none is checked.
        runs.append(("gpsd", [args.gpsd, "-N", "-n", "-b", "-F",
                              os.path.join(tmp, "gpsd.sock")] + slaves, []))
    total = (len(runs) + 1) * (args.warmup + args.seconds + 5) + 10  # + the floor
    feed = os.fork()
    if feed == 0:
        os._exit(feeder(masters, args.rate, args.baud,
                        bench.realtime_ns() + int(total * NS_PER_S)))
    results = []
    try:
        for name, cmd, checked in runs:
            log = open(os.path.join(tmp, f"{name}.log"), "w")
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                results.append(measure(name, proc, args, checked))
            finally:
                bench.stop_process(proc, log)
            if "exited" in results[-1]:
                with open(log.name) as f:
                    results[-1]["said"] = f.read().strip().splitlines()[:1]
                if name == "shmrefclock":
                    sys.exit(f"many: {name} exited with {results[-1]['exited']}; "
                             f"see {log.name}")
                continue
            if checked and results[-1]["units_publishing"] != len(checked):
                sys.exit(f"many: only {results[-1]['units_publishing']} of "
                         f"{len(checked)} units published; see {log.name}")
            if name == "shmrefclock":
                # The floor, right after the daemon: the same wake-ups, no work.
                rate = max(results[-1]["wakeups_per_s"], 1.0)
                proc = subprocess.Popen([waker, f"{rate:.1f}"])
                try:
                    results.append(measure("floor", proc, args, []))
                finally:
                    bench.stop_process(proc, open(os.devnull, "w"))
    finally:
        os.kill(feed, signal.SIGKILL)
        os.waitpid(feed, 0)
    print(f"### bench/many.py, {datetime.date.today()}\n")
    print(f"- command: `bench/many.py {' '.join(sys.argv[1:])}`")
    print(f"- daemon: {binary} ({bench.git_revision()}); gpsd: "
          f"{bench.tool_version([args.gpsd, '-V']) if args.with_gpsd else 'not run'}")
    print(f"- machine: {bench.machine_description()}; load average {bench.loadavg()}")
    print(f"- feed: {args.receivers} receivers x {args.rate} Hz, RMC + GGA + GSA "
          f"({sum(len(s) for s in epoch_sentences(0))} bytes an epoch) at {args.baud} Bd, "
          f"each sentence written whole when the line would have delivered it; "
          f"{args.seconds:.0f} s measured after {args.warmup:.0f} s\n")
    print("| daemon | CPU (% of one core) | wake-ups/s | peak RSS | units publishing |")
    print("|---|---|---|---|---|")
    floor = next((r for r in results if r["name"] == "floor"), None)
    for r in results:
        if r["name"] == "floor":
            print(f"| floor: bench/waker at the daemon's wake-ups, no work | "
                  f"{r['cpu_percent']:.3f} % | {r['wakeups_per_s']:.0f} | "
                  f"{r['peak_rss_kb'] / 1024:.1f} MB | - |")
            continue
        if "exited" in r:
            # gpsd 3.22 takes at most MAX_DEVICES (4) devices.
            print(f"| {r['name']} | exited ({r['exited']}): {' '.join(r['said'])} | | | |")
            continue
        units = f"{r['units_publishing']}/{args.receivers}" if r["name"] != "gpsd" else "-"
        print(f"| {r['name']} | {r['cpu_percent']:.3f} % | {r['wakeups_per_s']:.0f} | "
              f"{r['peak_rss_kb'] / 1024:.1f} MB | {units} |")
    own = next((r for r in results if r["name"] == "shmrefclock"), None)
    if floor and own:
        print(f"\nshmrefclock's CPU above the floor (its work, not its wake-ups): "
              f"{own['cpu_percent'] - floor['cpu_percent']:.3f} % of one core")
    print("\n" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
