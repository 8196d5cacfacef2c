#!/usr/bin/python3
"""A program built only with `pkg-config --cflags --libs shmrefclock`
against the installed library writes a unit that gpsd's ntpshmmon reads.

`meson install --destdir` puts the build into a private tree; pkg-config
is pointed at its shmrefclock.pc (PKG_CONFIG_SYSROOT_DIR maps the .pc's
paths into the tree); examples/off_by_one.cpp is compiled with exactly those
flags and run with LD_LIBRARY_PATH at the tree's libdir (checked in the
running process's maps: the installed libshmrefclock.so.0, not the build
tree's). ntpshmmon must report three samples of unit 2 with Real - Clock
(reference - receive) = -1.000 s within 1 ms; on SIGTERM the program must
clear `valid`.
"""

import os
import shlex
import shutil

import libtest
from libtest import harness
from harness import Fail, check, log

import test_ntpshmmon

UNIT = 2
OFFSET = -1.0
TOLERANCE = 0.001
NS = 1_000_000_000


def body(ctx):
    ntpshmmon = harness.require_program("ntpshmmon", "gpsd")
    build = os.environ.get("SHMREFCLOCK_BUILDDIR")
    meson = os.environ.get("SHMREFCLOCK_MESON")
    check(build and meson, "SHMREFCLOCK_BUILDDIR and SHMREFCLOCK_MESON must be set")
    for tool in ("pkg-config", "c++"):
        if shutil.which(tool) is None:
            raise Fail(f"{tool} not found")

    destdir = ctx.path("destdir")
    done = ctx.run("meson-install", [meson, "install", "-C", build, "--destdir",
                                     destdir, "--no-rebuild", "--quiet"],
                   timeout=120)
    check(done.returncode == 0, f"meson install failed: {done.stdout}{done.stderr}")
    pcs = list(destdir.rglob("pkgconfig/shmrefclock.pc"))
    check(len(pcs) == 1, f"installed shmrefclock.pc: {pcs}")
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(pcs[0].parent),
               PKG_CONFIG_SYSROOT_DIR=str(destdir))
    flags = ctx.run("pkg-config", ["pkg-config", "--cflags", "--libs",
                                   "shmrefclock"], timeout=10, env=env)
    check(flags.returncode == 0, f"pkg-config: {flags.stderr.strip()}")
    log(f"pkg-config --cflags --libs shmrefclock: {flags.stdout.strip()}")
    program = ctx.path("off_by_one")
    compile_argv = (["c++", libtest.SRCDIR / "examples" / "off_by_one.cpp"] +
                    shlex.split(flags.stdout) + ["-o", program])
    done = ctx.run("c++", compile_argv, timeout=120)
    check(done.returncode == 0, f"{' '.join(map(str, compile_argv))}:\n{done.stderr}")

    libdir = next(iter(destdir.rglob("libshmrefclock.so.0"))).parent
    run_env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    proc = ctx.start("off_by_one", [program], env=run_env)
    harness.wait_for_valid_sample(UNIT, 10, watch=[proc])
    maps = open(f"/proc/{proc.pid}/maps").read()
    mapped = {line.split()[-1] for line in maps.splitlines()
              if "libshmrefclock" in line}
    log(f"off_by_one maps {mapped}")
    check(mapped and all(path.startswith(str(destdir)) for path in mapped),
          f"the program did not load the installed library: {mapped}")

    done = ctx.run("ntpshmmon", [ntpshmmon, "-n", "3", "-t", "15"], timeout=25)
    log(f"ntpshmmon -n 3:\n{done.stdout.rstrip()}")
    check(done.returncode == 0, f"ntpshmmon exited {done.returncode}")
    samples = [s for s in test_ntpshmmon.parse(done.stdout) if s[0] == UNIT]
    check(len(samples) >= 3, f"{len(samples)} NTP{UNIT} samples, expected 3")
    for _, _, receive_ns, reference_ns, leap, prec, line in samples:
        offset = (reference_ns - receive_ns) / NS
        log(f"Real - Clock = {offset:+.9f} s (expected {OFFSET:+.9f}), leap "
            f"{leap}, precision {prec}")
        check(abs(offset - OFFSET) <= TOLERANCE and leap == 0,
              f"ntpshmmon: {line!r}")
    check(proc.stop() == 0, f"off_by_one exited {proc.returncode} on SIGTERM")
    with harness.ShmReader(UNIT) as reader:
        after = reader.read()
    log(f"after SIGTERM: {after}")
    check(after.valid == 0, "off_by_one left `valid` set")


if __name__ == "__main__":
    harness.main("installed_lib", body, timeout=200)
