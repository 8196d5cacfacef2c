#!/usr/bin/python3
"""Stamp lateness with and without web and control clients (issue 18,
item 4): the precise figures behind tests/integration/test_http_load.py.

Runs that test's scenario (a fake receiver on a pty paced at 9600 baud, the
daemon with its HTTP listener and control socket; a load of 6 clients
fetching `/` continuously, 40 slow HTTP clients and 20 slow control clients
sending a byte every 4 s, reconnecting when closed, and two clients that
never read) with more cycles, in alternating rounds (quiet, load, quiet,
load, ...) so that a drift of the machine's load shows in both, and prints
a markdown table: the stamp lateness (the daemon's receive stamp - the
fake receiver's write of the cycle's first byte) per phase, median, p90,
p99 and max, and how long GET /metrics and `status` took under the load.

    sudo bench/http_load.py --build-dir build            # 3 x (120 + 120) cycles, ~13 min
    sudo bench/http_load.py --build-dir build --quick    # 1 x (60 + 60) cycles, ~2.5 min

The build directory must have the tests (the clock emulator); build it with
the options a user's build has (`meson setup build -Ddebug=false`). Root:
the test isolates itself in IPC and network namespaces. Run it on a machine
otherwise idle: the figures are the daemon's, and a busy machine's
scheduler adds its own.
"""

import argparse
import json
import os
import subprocess
import sys


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(name, values, scale, unit):
    return (f"| {name} | {len(values)} | "
            + " | ".join(f"{percentile(values, p) * scale:.3f}" for p in (0.5, 0.9, 0.99))
            + f" | {max(values) * scale:.3f} | {unit} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--binary", help="the daemon to measure (default: the build's); "
                        "the emulators still come from --build-dir")
    parser.add_argument("--cycles", type=int, default=120, help="cycles per phase")
    parser.add_argument("--rounds", type=int, default=3, help="quiet + load rounds")
    parser.add_argument("--quick", action="store_true", help="1 round of 60 + 60 cycles")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.rounds = 60, 1
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build_dir)
    env = dict(os.environ,
               SHMREFCLOCK=os.path.abspath(args.binary) if args.binary
               else f"{build}/src/shmrefclock",
               SHMREFCLOCK_SRCDIR=top,
               PYTHONDONTWRITEBYTECODE="1",
               SHMREFCLOCK_PPS_EMULATOR=f"{build}/tests/pps-emulator/libpps_emulator.so",
               SHMREFCLOCK_CLOCK_EMULATOR=f"{build}/tests/clock-emulator/libclock_emulator.so",
               LD_LIBRARY_PATH=f"{build}/tests/clock-emulator:{build}/tests/pps-emulator",
               SHMREFCLOCK_BENCH_CYCLES=str(args.cycles),
               SHMREFCLOCK_BENCH_ROUNDS=str(args.rounds))
    run = subprocess.run([sys.executable, f"{top}/tests/integration/test_http_load.py"],
                         env=env, capture_output=True, text=True)
    figures = None
    for line in run.stdout.splitlines():
        if line.startswith("BENCH "):
            figures = json.loads(line[len("BENCH "):])
        else:
            print(line, file=sys.stderr)
    if figures is None:
        sys.exit(f"no figures (exit {run.returncode}):\n{run.stderr[-3000:]}")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"## Stamp lateness with and without clients ({args.rounds} x "
          f"({args.cycles} quiet + {args.cycles} load) cycles, load average at the end "
          f"{' '.join(load)}, {os.cpu_count()} CPUs)\n")
    print("| what | n | median | p90 | p99 | max | unit |")
    print("|---|---|---|---|---|---|---|")
    print(row("stamp lateness, no client", figures["quiet_ns"], 1e-6, "ms"))
    print(row("stamp lateness, under the load", figures["load_ns"], 1e-6, "ms"))
    print(row("GET /metrics under the load", figures["metrics_s"], 1e3, "ms"))
    print(row("`status` under the load", figures["status_s"], 1e3, "ms"))
    quiet, loaded = figures["quiet_ns"], figures["load_ns"]
    print(f"\nUnder the load minus without: median "
          f"{(percentile(loaded, 0.5) - percentile(quiet, 0.5)) / 1e6:+.3f} ms, p90 "
          f"{(percentile(loaded, 0.9) - percentile(quiet, 0.9)) / 1e6:+.3f} ms, p99 "
          f"{(percentile(loaded, 0.99) - percentile(quiet, 0.99)) / 1e6:+.3f} ms "
          "(issue 18: at most +2 ms).")
    print(f"Probes (GET /metrics and `status`, a new connection each) that failed under "
          f"the load: {figures.get('failed_probes', 0)} of "
          f"{len(figures['metrics_s']) + len(figures['status_s'])}.")
    if run.returncode != 0:
        print(f"\n(the test's own checks failed: exit {run.returncode}; see stderr)")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
