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
# SysV SHM: struct shmTime, read-only

SHM_KEY_BASE = 0x4E545030  # "NTP0"
SHM_SIZE = 96
SHM_RDONLY = 0o10000
IPC_STAT = 2

_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmget.restype = ctypes.c_int
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.shmdt.restype = ctypes.c_int
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.shmctl.restype = ctypes.c_int


class ShmTime(ctypes.Structure):
    """struct shmTime as on 64-bit Linux (include/shmrefclock/shm.hpp)."""
    _fields_ = [
        ("mode", ctypes.c_int),                     # 0
        ("count", ctypes.c_int),                    # 4
        ("clockTimeStampSec", ctypes.c_int64),      # 8   time_t
        ("clockTimeStampUSec", ctypes.c_int),       # 16
        ("receiveTimeStampSec", ctypes.c_int64),    # 24  time_t
        ("receiveTimeStampUSec", ctypes.c_int),     # 32
        ("leap", ctypes.c_int),                     # 36
        ("precision", ctypes.c_int),                # 40
        ("nsamples", ctypes.c_int),                 # 44
        ("valid", ctypes.c_int),                    # 48
        ("clockTimeStampNSec", ctypes.c_uint),      # 52
        ("receiveTimeStampNSec", ctypes.c_uint),    # 56
        ("dummy", ctypes.c_int * 8),                # 60
    ]


assert ctypes.sizeof(ShmTime) == SHM_SIZE
assert ShmTime.clockTimeStampSec.offset == 8
assert ShmTime.receiveTimeStampSec.offset == 24
assert ShmTime.valid.offset == 48
assert ShmTime.clockTimeStampNSec.offset == 52
assert ShmTime.dummy.offset == 60


class _IpcPerm(ctypes.Structure):
    """struct ipc64_perm on x86-64 / arm64 (asm-generic layout)."""
    _fields_ = [("key", ctypes.c_int), ("uid", ctypes.c_uint32),
                ("gid", ctypes.c_uint32), ("cuid", ctypes.c_uint32),
                ("cgid", ctypes.c_uint32), ("mode", ctypes.c_uint32),
                ("seq", ctypes.c_ushort), ("pad2", ctypes.c_ushort),
                ("unused1", ctypes.c_ulong), ("unused2", ctypes.c_ulong)]


class _ShmidDs(ctypes.Structure):
    _fields_ = [("shm_perm", _IpcPerm), ("shm_segsz", ctypes.c_size_t),
                ("shm_atime", ctypes.c_long), ("shm_dtime", ctypes.c_long),
                ("shm_ctime", ctypes.c_long), ("shm_cpid", ctypes.c_int),
                ("shm_lpid", ctypes.c_int), ("shm_nattch", ctypes.c_ulong),
                ("unused4", ctypes.c_ulong), ("unused5", ctypes.c_ulong),
                ("spare", ctypes.c_char * 64)]  # slack against layout drift


@dataclasses.dataclass(frozen=True)
class Sample:
    """One consistent copy of a segment (count unchanged across the copy)."""
    mode: int
    count: int
    clock_sec: int
    clock_usec: int
    clock_nsec: int
    receive_sec: int
    receive_usec: int
    receive_nsec: int
    leap: int
    precision: int
    nsamples: int
    valid: int
    dummy: tuple

    @property
    def clock_ns(self):
        """Reference time in integer nanoseconds."""
        return self.clock_sec * 1_000_000_000 + self.clock_nsec

    @property
    def receive_ns(self):
        """Receive time (CLOCK_REALTIME) in integer nanoseconds."""
        return self.receive_sec * 1_000_000_000 + self.receive_nsec

    @property
    def offset(self):
        """Reference minus receive time, seconds."""
        return (self.clock_ns - self.receive_ns) / 1e9

    def key(self):
        """What identifies one written sample."""
        return (self.clock_ns, self.receive_ns)

    def __str__(self):
        return (f"mode={self.mode} count={self.count} valid={self.valid} "
                f"clock={self.clock_sec}.{self.clock_nsec:09d} "
                f"(usec {self.clock_usec}) "
                f"receive={self.receive_sec}.{self.receive_nsec:09d} "
                f"(usec {self.receive_usec}) leap={self.leap} "
                f"precision={self.precision} "
                f"clock-receive={self.offset:+.9f} s")


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    shmid: int
    size: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int       # permission bits
    nattch: int

    def __str__(self):
        return (f"shmid={self.shmid} size={self.size} owner={self.uid}:"
                f"{self.gid} creator={self.cuid}:{self.cgid} "
                f"perm={self.mode:04o} nattch={self.nattch}")


def shm_key(unit):
    return SHM_KEY_BASE + unit


def _shmid(unit):
    """The segment's id, or None if no segment has the unit's key."""
    shmid = _libc.shmget(shm_key(unit), 0, 0)  # no IPC_CREAT: never creates
    if shmid < 0:
        if ctypes.get_errno() == 2:  # ENOENT
            return None
        raise Fail(f"shmget(unit {unit}): {_errno_text()}")
    return shmid


def segment_info(unit):
    """IPC_STAT of the unit's segment, or None when it does not exist."""
    shmid = _shmid(unit)
    if shmid is None:
        return None
    ds = _ShmidDs()
    if _libc.shmctl(shmid, IPC_STAT, ctypes.byref(ds)) != 0:
        raise Fail(f"shmctl(IPC_STAT, unit {unit}): {_errno_text()}")
    perm = ds.shm_perm
    return SegmentInfo(shmid, ds.shm_segsz, perm.uid, perm.gid, perm.cuid,
                       perm.cgid, perm.mode & 0o777, ds.shm_nattch)


class ShmReader:
    """A read-only attachment (SHM_RDONLY: a write would fault) to one unit."""

    def __init__(self, unit):
        self.unit = unit
        self.shmid = _shmid(unit)
        check(self.shmid is not None, f"no SHM segment for unit {unit}")
        info = segment_info(unit)
        check(info.size >= SHM_SIZE,
              f"unit {unit} segment is {info.size} bytes, < {SHM_SIZE}")
        addr = _libc.shmat(self.shmid, None, SHM_RDONLY)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise Fail(f"shmat(unit {unit}, SHM_RDONLY): {_errno_text()}")
        self.addr = addr
        self._count = ctypes.c_int.from_address(addr + ShmTime.count.offset)

    def read(self, attempts=1000):
        """A consistent copy by the mode-1 count protocol: count read
        before and after the copy must agree, as chrony and NTPsec check. Like
        them, no fence: x86-64 does not reorder loads with loads."""
        for _ in range(attempts):
            before = self._count.value
            raw = ShmTime.from_buffer_copy(ctypes.string_at(self.addr,
                                                            SHM_SIZE))
            after = self._count.value
            if before == after == raw.count:
                return Sample(raw.mode, raw.count, raw.clockTimeStampSec,
                              raw.clockTimeStampUSec, raw.clockTimeStampNSec,
                              raw.receiveTimeStampSec,
                              raw.receiveTimeStampUSec,
                              raw.receiveTimeStampNSec, raw.leap,
                              raw.precision, raw.nsamples, raw.valid,
                              tuple(raw.dummy))
            time.sleep(0.0001)
        raise Fail(f"unit {self.unit}: count kept changing over "
                   f"{attempts} reads")

    def close(self):
        if self.addr is not None:
            _libc.shmdt(self.addr)
            self.addr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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


def _child_setup():
    # Die with the test, even if it is SIGKILLed.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Proc:
    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.started = time.monotonic()
        with open(log_path, "wb") as log_file:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True, preexec_fn=_child_setup)
        self.pid = self.popen.pid
        self.returncode = None

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

    keep = os.environ.get("SHMREFCLOCK_IT_KEEP") == "1"
    tmp = tempfile.mkdtemp(prefix=f"shmrefclock-it-{name}-")
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
