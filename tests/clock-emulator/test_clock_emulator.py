#!/usr/bin/python3
"""The clock emulator (clock_emulator.cpp) against clock_probe: what the
state file and SHMREFCLOCK_CLOCK_STATE say is what every entry point returns,
a change to the file is seen by the next call, a bad word fails the call, and
every attempt to set the clock is refused with EPERM and logged; a change
of realtime_offset_ns steps the probe's CLOCK_REALTIME (clock_gettime,
gettimeofday, time) and its cancel-on-set timerfd sees the step as the
kernel's would (timerfd_create(2)).

Usage: test_clock_emulator.py LIBRARY PROBE
"""

import errno
import os
import pathlib
import select  # POLLIN
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent /
                       "integration"))
import harness  # noqa: E402  (preload: the ASan runtime first)

# <sys/timex.h>, written out here so that the test does not trust the
# emulator's own tables.
STA_PLL = 0x0001
STA_INS = 0x0010
STA_DEL = 0x0020
STA_UNSYNC = 0x0040
STA_NANO = 0x2000
TIME_OK, TIME_INS, TIME_DEL, TIME_ERROR = 0, 1, 2, 5

READERS = ("ntp_adjtime", "adjtimex", "clock_adjtime")
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def probe(library, program, env_extra, args=()):
    env = dict(os.environ)
    env.pop("SHMREFCLOCK_CLOCK_STATE", None)
    env.pop("SHMREFCLOCK_CLOCK_FILE", None)
    env.pop("SHMREFCLOCK_CLOCK_HOST", None)
    env["LD_PRELOAD"] = harness.preload(program, library)
    env.update(env_extra)
    done = subprocess.run([program, *args], env=env, capture_output=True,
                          text=True, timeout=20, check=True)
    lines = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if words[0] == "set":
            lines["set " + words[1]] = [int(w) for w in words[2:]]
        else:
            lines[words[0]] = words[1:]
    return lines, done.stderr


def readings(lines):
    """(result, status, maxerror, esterror) of each timex reader."""
    return {name: (int(lines[name][0]), int(lines[name][1], 16),
                   int(lines[name][2]), int(lines[name][3]))
            for name in READERS}


def step(library, program, state, write):
    """clock_probe --step: a step of +0.5 s, then one of -0.75 s."""
    write("realtime_offset_ns=0\n")
    env = dict(os.environ, SHMREFCLOCK_CLOCK_FILE=state,
               LD_PRELOAD=harness.preload(program, library))
    env.pop("SHMREFCLOCK_CLOCK_STATE", None)
    env.pop("SHMREFCLOCK_CLOCK_HOST", None)
    proc = subprocess.Popen([program, "--step"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines = {}

    def until_ready():
        # Blocking reads: the probe gives up each of its waits after 5 s,
        # so it always gets to its next line or exits.
        for line in proc.stdout:
            words = line.split()
            if words[0] == "ready":
                return True
            lines.setdefault(words[0], []).append(
                [int(w) for w in words[1:]])
        return False

    try:
        check(until_ready(), "the step probe never got ready")
        # Between the two "clocks" lines, CLOCK_REALTIME - CLOCK_MONOTONIC
        # must change by the step and nothing else.
        write("realtime_offset_ns=500000000\n")
        check(until_ready(), "the step probe never got ready again")
        time.sleep(0.3)
        write("realtime_offset_ns=-250000000\n")
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for line in out.splitlines():
        words = line.split()
        lines.setdefault(words[0], []).append([int(w) for w in words[1:]])
    print(f"step probe: {lines}")
    ecanceled, eagain = errno.ECANCELED, errno.EAGAIN
    check(lines.get("armed", [[1]])[0][0] == 0, f"arming: {lines.get('armed')}")
    check(lines.get("before") == [[-1, eagain, 0]],
          f"read before any step: {lines.get('before')}")
    check(lines.get("poll") == [[select.POLLIN]],
          f"the watch did not poll readable at the step: {lines.get('poll')}")
    check(lines.get("read") == [[-1, ecanceled, 0]],
          f"read after the step: {lines.get('read')} (want ECANCELED)")
    check(lines.get("again") == [[-1, eagain, 0]],
          f"second read after one step: {lines.get('again')} (want EAGAIN)")
    clocks = lines.get("clocks", [])
    check(len(clocks) == 2, f"clock lines: {clocks}")
    if len(clocks) == 2:
        (r0, m0, tod0, t0), (r1, m1, tod1, t1) = clocks
        stepped = (r1 - m1) - (r0 - m0)
        check(abs(stepped - 500_000_000) < 2_000_000,
              f"CLOCK_REALTIME - CLOCK_MONOTONIC moved by {stepped} ns")
        for r, tod, t in ((r0, tod0, t0), (r1, tod1, t1)):
            check(abs(tod * 1000 - r) < 5_000_000 and abs(t - r // 10**9) <= 1,
                  f"gettimeofday {tod} / time {t} disagree with {r}")
    armed, alarm = lines.get("armed", [[0, 0]])[0][1], lines.get("alarm")
    # The absolute timer set 2 s ahead fires at its time on the stepped
    # clock, i.e. 0.5 s early on the kernel's.
    check(alarm and 0 <= alarm[0][0] - armed < 100_000_000,
          f"absolute timer for {armed} fired at {alarm}")
    check(lines.get("rearm") == [[-1, ecanceled]],
          f"re-arm with a cancel pending: {lines.get('rearm')}")
    check(lines.get("after-rearm") == [[-1, eagain, 0]],
          f"read after the re-arm: {lines.get('after-rearm')}")
    check(err.count("stepped by") == 2, f"steps logged: {err!r}")


def main():
    library, program = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "clock")

        def write(text):
            with open(state + ".new", "w", encoding="ascii") as f:
                f.write(text)
            os.rename(state + ".new", state)

        env = {"SHMREFCLOCK_CLOCK_FILE": state}

        # A synchronized clock with a leap second armed.
        write("status=STA_PLL|STA_NANO|STA_INS\nmaxerror=12345 esterror=67\n")
        lines, _ = probe(library, program, env)
        for name, r in readings(lines).items():
            check(r == (TIME_INS, STA_PLL | STA_NANO | STA_INS, 12345, 67),
                  f"{name}: synchronized + INS read as {r}")
        g = lines["ntp_gettime"]
        check(int(g[0]) == TIME_INS and g[2:4] == ["12345", "67"],
              f"ntp_gettime: {g}")

        # The same file rewritten: unsynchronized (the state is derived).
        write("status=UNSYNC maxerror=16000000 # the kernel's ceiling\n")
        lines, _ = probe(library, program, env)
        for name, r in readings(lines).items():
            check(r[:3] == (TIME_ERROR, STA_UNSYNC, 16000000),
                  f"{name}: unsynchronized read as {r}")

        # A number for the status, STA_DEL, an explicit state.
        write(f"status={STA_DEL:#x};state=TIME_OK;maxerror=1")
        r = readings(probe(library, program, env)[0])["ntp_adjtime"]
        check(r[:3] == (TIME_OK, STA_DEL, 1), f"explicit state read as {r}")

        # Inline words, with the file's words applied after them.
        os.unlink(state)
        inline = {"SHMREFCLOCK_CLOCK_STATE": "status=PLL,maxerror=5000"}
        r = readings(probe(library, program, {**env, **inline})[0])["adjtimex"]
        check(r[:3] == (TIME_OK, STA_PLL, 5000), f"inline read as {r}")
        write("maxerror=7")
        r = readings(probe(library, program, {**env, **inline})[0])["adjtimex"]
        check(r[:3] == (TIME_OK, STA_PLL, 7), f"inline + file read as {r}")

        # The host's words stand for the machine's kernel: applied first,
        # under the inline words and the file's.
        host = {"SHMREFCLOCK_CLOCK_HOST": "status=PLL,maxerror=2000000"}
        os.unlink(state)
        r = readings(probe(library, program, {**env, **host})[0])["ntp_adjtime"]
        check(r[:3] == (TIME_OK, STA_PLL, 2000000), f"host words read as {r}")
        r = readings(probe(library, program, {**env, **host, **inline})[0])["ntp_adjtime"]
        check(r[:3] == (TIME_OK, STA_PLL, 5000), f"host + inline read as {r}")
        write("status=UNSYNC")
        r = readings(probe(library, program, {**env, **host})[0])["ntp_adjtime"]
        check(r[:3] == (TIME_ERROR, STA_UNSYNC, 2000000), f"host + file read as {r}")

        # Bad words fail the call (EINVAL) and say so; nothing is made up.
        for bad in ("status=STA_NOPE", "maxerror=12x", "colour=blue",
                    "maxerror", "state=TIME_LATE"):
            write(bad)
            lines, err = probe(library, program, env)
            r = readings(lines)["ntp_adjtime"]
            check(r[0] == -1, f"{bad!r}: read as {r}, not refused")
            check("cannot use" in err, f"{bad!r}: stderr says {err!r}")

        # Setting is refused whatever the state, with EPERM, and logged.
        write("status=PLL maxerror=100")
        lines, err = probe(library, program, env, ["--set"])
        for name in READERS:
            check(lines["set " + name] == [-1, errno.EPERM],
                  f"setting through {name}: {lines['set ' + name]}")
        check(err.count("refused") == 3, f"refusals logged: {err!r}")
        # ...and the emulated state is unchanged by the attempts.
        r = readings(probe(library, program, env)[0])["ntp_adjtime"]
        check(r[2] == 100, f"maxerror after refused sets: {r}")

        # Without a state, the real kernel's reading passes through: the
        # same as the probe sees without the library.
        os.unlink(state)
        env_none = {"SHMREFCLOCK_CLOCK_FILE": state}
        emulated = readings(probe(library, program, env_none)[0])
        real_env = dict(os.environ)
        real_env.pop("LD_PRELOAD", None)
        real = subprocess.run([program], env=real_env, capture_output=True,
                              text=True, timeout=20, check=True).stdout
        real_result = int(real.split()[1])
        check(emulated["ntp_adjtime"][0] == real_result,
              f"pass-through state {emulated['ntp_adjtime'][0]} vs real {real_result}")

        step(library, program, state, write)

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
