"""Shared helpers for the integration tests against the real NTP readers.

Standard library only. Every test script does

    import harness
    harness.main("name", body, timeout=80)

and `main` takes care of the rest:

- Isolation: the script re-executes itself under `unshare --ipc --net` (a
  fresh SysV IPC namespace, so the segments it creates cannot collide with,
  or be read by, anything else on the machine; a network namespace with only
  `lo`, so ntpd's port 123 is private too) and then drops CAP_SYS_TIME from all
  of its capability sets, bounding set included, so that no process it starts
  (chronyd, ntpd, the daemon under test) can adjust the real clock whatever
  its configuration says. This is load-bearing: NTPsec 1.2.2 makes two
  clock-changing clock_adjtime(2) calls at start-up (start_kern_loop,
  set_freq) even with `disable ntp`, `disable kernel` and -x; without
  CAP_SYS_TIME they fail with EPERM, which it logs and ignores. (chronyd -x
  makes none.)
- A private temporary directory (kept when SHMREFCLOCK_IT_KEEP=1).
- Processes started with `Context.start` get their stdout and stderr in a log
  file in that directory, die with the test (PR_SET_PDEATHSIG), and are
  always stopped at the end, on failure too; on failure the tail of every log
  is printed.
- A deadline (SIGALRM) so that a test never hangs.
- Exit codes: 0 pass, 1 fail, 77 skip (a prerequisite is truly absent; the
  reason is printed).

The daemon under test is `$SHMREFCLOCK` (meson passes it); without it,
`$SHMREFCLOCK_SRCDIR/build/src/shmrefclock`, where the source directory
defaults to the one holding this file.
"""

import contextlib
import ctypes
import ctypes.util
import dataclasses
import fcntl
import os
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_SKIP = 77

NS_GUARD = "SHMREFCLOCK_IT_IN_IPC_NS"

# ----------------------------------------------------------------------------
# Outcomes


class Skip(Exception):
    """A prerequisite is absent: exit 77."""


class Fail(Exception):
    """The test failed: exit 1."""


def check(condition, message):
    if not condition:
        raise Fail(message)


def log(message):
    print(message, flush=True)


# ----------------------------------------------------------------------------
# Isolation: IPC namespace and no CAP_SYS_TIME

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

CAP_SYS_TIME = 25
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32),
                ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _errno_text():
    return os.strerror(ctypes.get_errno())


def _cap_bits(field):
    """One capability mask of this process from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return 0


def _drop_cap_sys_time():
    """Remove CAP_SYS_TIME from every capability set of this process.

    The bounding set makes the drop stick across execve(2) for root, whose
    permitted set after exec is the bounding set."""
    if _cap_bits("CapBnd") & (1 << CAP_SYS_TIME):
        if _libc.prctl(PR_CAPBSET_DROP, CAP_SYS_TIME, 0, 0, 0) != 0:
            raise Fail(f"prctl(PR_CAPBSET_DROP, CAP_SYS_TIME): {_errno_text()}")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        raise Fail(f"capget: {_errno_text()}")
    mask = ~(1 << CAP_SYS_TIME) & 0xFFFFFFFF
    data[0].effective &= mask
    data[0].permitted &= mask
    data[0].inheritable &= mask
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise Fail(f"capset: {_errno_text()}")
    for field in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        if _cap_bits(field) & (1 << CAP_SYS_TIME):
            raise Fail(f"CAP_SYS_TIME still in {field}; refusing to go on")


def _reexec_in_namespaces():
    """Replace this process with itself run under `unshare --ipc --net`.

    The network namespace is extra: nothing a test starts (ntpd binds port
    123 on every address) can be reached from, or send to, the outside."""
    if os.environ.get(NS_GUARD) == "1":
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        raise Skip("unshare(1) (util-linux) is not installed")
    # Probe first, so that a missing privilege is a clear skip rather than an
    # exec failure.
    variants = [[unshare, "--ipc", "--net"]]
    if os.geteuid() != 0:
        variants.append([unshare, "--user", "--map-root-user", "--ipc",
                         "--net"])
    for variant in variants:
        probe = subprocess.run(variant + ["--", "true"], capture_output=True,
                               text=True, timeout=10)
        if probe.returncode == 0:
            env = dict(os.environ, **{NS_GUARD: "1"})
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(unshare, variant +
                      ["--", sys.executable, os.path.abspath(sys.argv[0])] +
                      sys.argv[1:], env)
    raise Skip("cannot create IPC and network namespaces (unshare: "
               f"{probe.stderr.strip()}); the tests never touch the host's "
               "SysV segments")


def _loopback_up():
    """Bring up `lo` in the new network namespace (down when created)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    layout = "16sh14x"  # struct ifreq: name, flags
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            ifreq = fcntl.ioctl(sock, siocgifflags,
                                struct.pack(layout, b"lo", 0))
            flags = struct.unpack(layout, ifreq)[1]
            if not flags & iff_up:
                fcntl.ioctl(sock, siocsifflags,
                            struct.pack(layout, b"lo", flags | iff_up))
    except OSError as err:
        raise Fail(f"cannot bring up lo in the test's network namespace: "
                   f"{err}") from None


# ----------------------------------------------------------------------------
# Locating things


def source_dir():
    env = os.environ.get("SHMREFCLOCK_SRCDIR")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parent.parent.parent


def daemon_binary():
    env = os.environ.get("SHMREFCLOCK")
    if env:
        path = pathlib.Path(env)
        # Given explicitly (by meson): a missing binary is a broken build,
        # not an absent prerequisite.
        check(path.is_file() and os.access(path, os.X_OK),
              f"SHMREFCLOCK={env} is not an executable file")
        return path
    path = source_dir() / "build" / "src" / "shmrefclock"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise Skip(f"no daemon binary: SHMREFCLOCK is unset and {path} "
                   "does not exist (build first)")
    return path


def preload(program, *libraries):
    """LD_PRELOAD for `program`: the libraries (the PPS and clock emulators,
    libfaketime), preceded by the ASan runtime when the program links it
    (the sanitizer build). ASan must be the first DSO in the initial library
    list or it refuses to start ("ASan runtime does not come first");
    preloaded first, its interceptors call on to the emulators' functions
    through dlsym(RTLD_NEXT), which in turn call on to libc."""
    return " ".join(_asan_runtime(program) +
                    [str(library) for library in libraries])


def clock_emulator():
    """The clock emulator library (tests/clock-emulator), which meson names
    in SHMREFCLOCK_CLOCK_EMULATOR."""
    env = os.environ.get("SHMREFCLOCK_CLOCK_EMULATOR")
    if env:
        check(os.path.isfile(env),
              f"SHMREFCLOCK_CLOCK_EMULATOR={env} does not exist")
        return env
    path = (source_dir() / "build" / "tests" / "clock-emulator" /
            "libclock_emulator.so")
    if not path.is_file():
        raise Skip(f"no clock emulator: {path} does not exist (build first)")
    return str(path)


# The kernel clock state a daemon under test sees when its test names none:
# unsynchronized, as a kernel is at boot until an NTP daemon disciplines it
# (STA_UNSYNC, maxerror and esterror at NTP_PHASE_LIMIT's 16 s). The
# daemon's witness and leap rules read ntp_adjtime(2), so a test that
# inherited this machine's state would pass or fail with whatever NTP daemon
# the machine runs (tests/README.md, "The kernel clock state").
UNSYNCHRONIZED = "status=PLL|UNSYNC,maxerror=16000000,esterror=16000000"
# Synchronized to within 2 s, as the CI machine whose kernel chrony
# disciplines reported it (TIME_OK, maxerror 2 s).
SYNCHRONIZED = "status=PLL,maxerror=2000000,esterror=1000"


def states_clock(env):
    """Whether `env` runs a program under the clock emulator with a state
    the test named (inline or in a file)."""
    return (clock_emulator() in env.get("LD_PRELOAD", "").split() and
            ("SHMREFCLOCK_CLOCK_STATE" in env or
             "SHMREFCLOCK_CLOCK_FILE" in env))


def clock_env(program, env=None, state=UNSYNCHRONIZED):
    """`env` (default: this process's) for running `program`, the daemon
    binary, under the clock emulator: unchanged when the test already named
    a state there, else with `state` inline and the emulator appended to
    LD_PRELOAD (after the ASan runtime and whatever the test preloads)."""
    env = dict(os.environ if env is None else env)
    if states_clock(env):
        return env
    libraries = env.get("LD_PRELOAD", "").split()
    if clock_emulator() not in libraries:
        if not libraries:
            # The sanitizer build's emulator links ASan too: its runtime
            # must come first even in a program built without it (ntptime).
            libraries = (_asan_runtime(program) or
                         _asan_runtime(clock_emulator()))
        libraries.append(clock_emulator())
    env["LD_PRELOAD"] = " ".join(libraries)
    env["SHMREFCLOCK_CLOCK_STATE"] = state
    env.pop("SHMREFCLOCK_CLOCK_FILE", None)
    return env


def _for_daemon(argv, env):
    """(environment, is the daemon) for running `argv`: when it runs the
    daemon binary, an environment with a stated kernel clock state
    (clock_env)."""
    try:
        daemon = daemon_binary()
    except Skip:
        return env, False
    if argv and pathlib.Path(str(argv[0])) == daemon:
        return clock_env(daemon, env), True
    return env, False


def _asan_runtime(program):
    """The ASan runtime `program` links, as a list of its path (empty for a
    build without it)."""
    done = subprocess.run(["ldd", str(program)], capture_output=True,
                          text=True, timeout=20)
    check(done.returncode == 0, f"ldd {program}: {done.stderr.strip()}")
    return [match.group(1) for match in
            re.finditer(r"^\s*libasan\.so\S*\s+=>\s+(\S+)", done.stdout,
                        re.MULTILINE)]


def sanitized(program):
    """Whether `program` is the sanitizer build (ASan + UBSan)."""
    return bool(_asan_runtime(program))


def require_program(path_or_name, package):
    """The path of a program, or Skip naming the package that provides it."""
    if os.sep in str(path_or_name):
        if os.path.isfile(path_or_name) and os.access(path_or_name, os.X_OK):
            return str(path_or_name)
        found = None
    else:
        found = shutil.which(path_or_name)
    if found is None:
        raise Skip(f"{path_or_name} not found (package {package})")
    return found


# ----------------------------------------------------------------------------
# SysV SHM: struct shmTime, read-only (shm_segment.py, shared with bench/)

from shm_segment import (SHM_KEY_BASE, SHM_SIZE, Sample, SegmentInfo,  # noqa: E402,F401
                         ShmTime, segment_info, shm_key)
import shm_segment  # noqa: E402


class ShmReader(shm_segment.ShmReader):
    """shm_segment.ShmReader whose failures fail the test."""

    def __init__(self, unit):
        try:
            super().__init__(unit)
        except shm_segment.SegmentError as error:
            raise Fail(str(error)) from None

    def read(self, attempts=1000):
        try:
            return super().read(attempts)
        except shm_segment.SegmentError as error:
            raise Fail(str(error)) from None


def wait_for_segment(unit, timeout, watch=None):
    """The unit's SegmentInfo once the segment exists."""
    return wait_until(lambda: segment_info(unit), timeout,
                      f"SHM segment for unit {unit} to appear", watch=watch)


# ----------------------------------------------------------------------------
# Waiting


def wait_until(predicate, timeout, what, interval=0.1, watch=None):
    """Poll `predicate` until it returns something truthy, which is returned.
    Fails after `timeout` seconds, or at once when a watched Proc exits."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        for proc in watch or ():
            if proc.poll() is not None:
                raise Fail(f"{proc.name} exited with {proc.returncode} "
                           f"while waiting for {what}")
        if time.monotonic() >= deadline:
            raise Fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ----------------------------------------------------------------------------
# Processes


def _set_nice(value):
    """This thread's (and what it starts from now on) nice value; without
    CAP_SYS_NICE a lower one is not granted and the test runs as it is."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, value)
    except OSError:
        pass


def _child_setup(nice=0):
    # Die with the test, even if it is SIGKILLed.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The test runs at DAEMON_NICE; chronyd, ntpd, chromium and the other
    # helpers go back to nice 0 and compete as on any machine.
    _set_nice(nice)


# The daemon under test runs at nice -10: still in the normal (CFS) class it
# is deployed in, but ahead of the other tests' processes that share the two
# CPUs with it. At nice 0 beside three other tests (a sanitizer daemon
# starting, chromium rendering, chronyd), its wake-up for a cycle's first
# byte was seen 17 ms late, and a stamp more than 50 ms late is a walk off
# the timeline (core/timeline.hpp) that costs a 10-minute probation: a test
# of what the daemon does with a receiver's bytes would then fail on the
# machine's load. How late it stamps on a quiet machine is the bench's
# figure (bench/), not a test's.
DAEMON_NICE = -10


def _daemon_setup():
    _child_setup(DAEMON_NICE)


def realtime_thread(name, priority=20):
    """Put the calling thread in SCHED_FIFO: the fake receivers' writers
    stand for hardware, which does not pause mid-cycle while the machine
    compiles. A writer held up 100 ms (seen under CI's load, at nice 0)
    shifts a cycle's first byte by as much, and the daemon rightly refuses
    a receiver whose cycles move by more than 50 ms. Without the privilege
    the test still runs, and says so."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        log(f"{name}: runs without real-time priority ({error})")


class _StallMonitor:
    """tests/stall-monitor, started for the whole test: when this machine
    took a CPU away from everything on it, and when the kernel handed a
    pty's bytes to their reader late. A test may excuse a cycle lost in
    such a stall (a pty's bytes handed over late although written on time),
    never a wrong sample."""

    def __init__(self):
        self.path = None
        self.popen = None

    def start(self, directory):
        program = os.environ.get("SHMREFCLOCK_STALL_MONITOR")
        if not program:
            log("no stall monitor ($SHMREFCLOCK_STALL_MONITOR unset): "
                "no lost cycle can be put down to the machine")
            return
        self.path = os.path.join(directory, "stall-monitor.log")
        with open(self.path, "wb") as out:
            self.popen = subprocess.Popen(
                [program, str(STALL_THRESHOLD_MS)], stdin=subprocess.PIPE,
                stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)

    def watch(self, pid):
        """Have the monitor measure `pid`'s waits for a CPU (loop_wait)."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(OSError):
                self.popen.stdin.write(f"{pid}\n".encode())
                self.popen.stdin.flush()

    def _lines(self, kind, fields_count):
        if self.path is None:
            return []
        with contextlib.suppress(OSError):
            return [line.split() for line in
                    pathlib.Path(self.path).read_text().splitlines()
                    if line.startswith(kind + " ")
                    and len(line.split()) == fields_count]
        return []

    def waits(self):
        """[(pid, start_ns, end_ns, wait_ns)] so far: a daemon's main thread
        waited at least wait_ns at once for a CPU, in a wait that ended
        between the two (CLOCK_REALTIME)."""
        return [tuple(int(x) for x in fields[1:]) for fields in self._lines("wait", 5)]

    def stalls(self):
        """[(cpu, start_ns, end_ns)] so far, CLOCK_REALTIME."""
        result = []
        for fields in self._lines("stall", 4):
            # A CPU's number, or "pty": the kernel handed a pty's bytes to
            # their reader late.
            where = fields[1] if fields[1] == "pty" else int(fields[1])
            result.append((where, int(fields[2]), int(fields[3])))
        return result

    def stop(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
        if self.popen is not None and self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()


# A CPU gone for more than this is a stall (tests/stall-monitor); a cycle
# is put down to one only if the stall overlaps it.
STALL_THRESHOLD_MS = 4
_stall_monitor = _StallMonitor()


def schedstat(pid):
    """A process's main thread's CPU time, time waiting for a CPU (ns) and
    time slices (/proc/PID/schedstat): whether a late stamp was the loop or
    the CPU, measured in the run itself."""
    with open(f"/proc/{pid}/schedstat") as f:
        return [int(x) for x in f.read().split()]


def machine_stall(start_ns, end_ns, longer_than_ns=0):
    """The longest stall of a CPU (tests/stall-monitor) overlapping
    [start_ns, end_ns] and lasting more than longer_than_ns, as (cpu,
    start_ns, end_ns), or None."""
    overlapping = [s for s in _stall_monitor.stalls()
                   if s[1] <= end_ns and s[2] >= start_ns
                   and s[2] - s[1] > longer_than_ns]
    return max(overlapping, key=lambda s: s[2] - s[1], default=None)


def loop_wait(start_ns, end_ns):
    """The longest a daemon's event loop is known to have waited for a CPU
    at once, runnable, in a wait that ended within [start_ns, end_ns]
    (CLOCK_REALTIME; the monitor's wake-ups around it), in ns: its stamps
    may be late by as much (seen in CI, with two suites and the cross
    builds on two CPUs: a cycle's first byte stamped 70 ms late with no CPU
    taken from the machine). A test may excuse a late stamp or a lost cycle
    by it as by a stall, never a wrong second. tests/stall-monitor measures
    it from the daemons' run_delay; a loop busy with its clients, each
    wake-up a little late, adds up to no such wait."""
    return max((w[3] for w in _stall_monitor.waits()
                if w[1] <= end_ns and w[2] >= start_ns), default=0)


def stall_text(stall):
    cpu, start, end = stall
    if cpu == "pty":
        return (f"a pty's byte handed over {(end - start) / 1e6:.1f} ms after "
                "its write (tests/stall-monitor)")
    return f"CPU {cpu} gone {(end - start) / 1e6:.1f} ms (tests/stall-monitor)"


class Proc:
    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        env, daemon = _for_daemon(self.argv, env)
        self.started = time.monotonic()
        with open(log_path, "wb") as log_file:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True,
                preexec_fn=_daemon_setup if daemon else _child_setup)
        self.pid = self.popen.pid
        self.returncode = None
        if daemon:
            _stall_monitor.watch(self.pid)

    def poll(self):
        self.returncode = self.popen.poll()
        return self.returncode

    def running(self):
        return self.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL to its process group; its exit status."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {timeout} s: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Anything it left behind in its own process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.returncode = self.popen.returncode
        return self.returncode

    def output(self):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


class Context:
    """What a test body gets: its temp dir, process registry and helpers."""

    def __init__(self, name, tmp):
        self.name = name
        self.tmp = pathlib.Path(tmp)
        self.procs = []

    def path(self, name):
        return self.tmp / name

    def write(self, name, text):
        path = self.path(name)
        path.write_text(text)
        return path

    def start(self, name, argv, env=None, cwd=None):
        proc = Proc(name, argv, self.path(f"{name}.log"), env=env, cwd=cwd)
        self.procs.append(proc)
        log(f"started {name} (pid {proc.pid}): {' '.join(proc.argv)}")
        return proc

    def run(self, name, argv, timeout, env=None):
        """Run to completion with bounded time; CompletedProcess (text)."""
        argv = [str(a) for a in argv]
        env, _ = _for_daemon(argv, env)
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True,
                                  timeout=timeout, env=env,
                                  preexec_fn=_child_setup)
        except subprocess.TimeoutExpired as err:
            raise Fail(f"{name} did not finish within {timeout} s: "
                       f"{' '.join(argv)}\n{err.stdout or ''}"
                       f"{err.stderr or ''}") from None
        with open(self.path(f"{name}.log"), "a") as out:
            out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}"
                      f"[exit {done.returncode}]\n")
        return done

    # The daemon under test -------------------------------------------------

    def daemon_config(self, unit=2, offset=-1.0, interval=1.0,
                      name="off-by-one"):
        return self.write(f"shmrefclock-{name}.conf", (
            "[[refclock]]\n"
            f'name = "{name}"\n'
            'source = "system"\n'
            f"unit = {unit}\n"
            f"offset = {offset!r}\n"
            f"interval = {interval!r}\n"))

    def start_daemon(self, config, unit, timeout=10):
        """Start `shmrefclock -c CONFIG` and wait for its first valid sample
        in `unit`; (Proc, Sample)."""
        proc = self.start("shmrefclock", [daemon_binary(), "-c", config])
        sample = wait_for_valid_sample(unit, timeout, watch=[proc])
        log(f"daemon's first sample in unit {unit}: {sample}")
        return proc, sample

    def stop_all(self):
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as err:  # keep stopping the others
                log(f"stopping {proc.name}: {err}")

    def dump_logs(self, lines=40):
        for proc in self.procs:
            text = proc.output().splitlines()
            log(f"--- {proc.name} (pid {proc.pid}, exit {proc.returncode}), "
                f"last {min(lines, len(text))} of {len(text)} lines of "
                f"{proc.log_path}:")
            for line in text[-lines:]:
                log(f"    {line}")


def wait_for_valid_sample(unit, timeout, watch=None, newer_than=None):
    """A valid mode-1 sample in the unit's segment (different from
    `newer_than`, a Sample, when given)."""
    reader = None

    def attempt():
        nonlocal reader
        if reader is None:
            if segment_info(unit) is None:
                return None
            reader = ShmReader(unit)
        sample = reader.read()
        if sample.valid != 1:
            return None
        if newer_than is not None and sample.key() == newer_than.key():
            return None
        return sample

    try:
        return wait_until(attempt, timeout,
                          f"a valid sample in SHM unit {unit}", interval=0.05,
                          watch=watch)
    finally:
        if reader is not None:
            reader.close()


# ----------------------------------------------------------------------------
# Entry point


def _scratch_dir():
    """Where a test keeps its files (the daemon's log among them): tmpfs
    (/dev/shm) when there is one. On a disk, a daemon's write to its log
    could wait for the file system's journal behind another process's
    fsync (dpkg, mmdebstrap and compiles run beside the tests in CI), and a
    daemon held up there stamps its next cycle late: seen as stamps 140 ms
    late while the fake receiver wrote on time (tests/README.md, "Timing")."""
    shm = pathlib.Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


def _on_alarm(signum, frame):
    raise Fail("test deadline reached")


def _on_term(signum, frame):
    raise Fail(f"terminated by signal {signum}")


def main(name, body, timeout=85):
    """Run `body(ctx)` isolated; exit 0, 1 or 77."""
    started = time.monotonic()
    try:
        _reexec_in_namespaces()
        _loopback_up()
        _drop_cap_sys_time()
    except Skip as why:
        log(f"SKIP: {name}: {why}")
        sys.exit(EXIT_SKIP)
    except Fail as why:
        log(f"FAIL: {name}: {why}")
        sys.exit(EXIT_FAIL)

    # The fake receivers are threads of this process, and their writers
    # wait for the GIL: a shorter switch interval than the default 5 ms
    # keeps a busy main thread from holding them up.
    sys.setswitchinterval(0.0005)
    # And at the daemon's nice: a main thread preempted while it holds the
    # GIL holds up every writer, and its polls of the segments are its
    # observations. Threads started from here on inherit it.
    _set_nice(DAEMON_NICE)
    keep = os.environ.get("SHMREFCLOCK_IT_KEEP") == "1"
    tmp = tempfile.mkdtemp(prefix=f"shmrefclock-it-{name}-", dir=_scratch_dir())
    os.chmod(tmp, 0o700)
    ctx = Context(name, tmp)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    signal.alarm(timeout)
    code = EXIT_FAIL
    try:
        log(f"== {name}: temp dir {tmp}, IPC namespace "
            f"{os.readlink('/proc/self/ns/ipc')}, private network, "
            "CAP_SYS_TIME dropped")
        _stall_monitor.start(tmp)
        body(ctx)
        code = EXIT_PASS
    except Skip as why:
        log(f"SKIP: {name}: {why}")
        code = EXIT_SKIP
    except Fail as why:
        log(f"FAIL: {name}: {why}")
    except Exception:
        traceback.print_exc()
        log(f"FAIL: {name}: unexpected exception")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ctx.stop_all()
        _stall_monitor.stop()
        stalls = _stall_monitor.stalls()
        cpus = [s for s in stalls if s[0] != "pty"]
        ptys = [s for s in stalls if s[0] == "pty"]
        if cpus:
            log(f"the machine took a CPU away {len(cpus)} times, the longest "
                f"{stall_text(max(cpus, key=lambda s: s[2] - s[1]))}")
        if ptys:
            log(f"the kernel handed a pty's bytes over late {len(ptys)} times, "
                f"the latest {stall_text(max(ptys, key=lambda s: s[2] - s[1]))}")
        if code == EXIT_FAIL:
            ctx.dump_logs()
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    if code == EXIT_PASS:
        log(f"PASS: {name} ({elapsed:.1f} s)")
    sys.exit(code)
