"""The NTP SHM refclock segment as a reader sees it, for the tests and for
bench/: struct shmTime (the layout of include/shmrefclock/shm.hpp on 64-bit
Linux), IPC_STAT of a unit's segment, and a read-only attachment that
copies it with the mode-1 count protocol as chrony and NTPsec do.

Standard library only; raises SegmentError.
"""

import ctypes
import ctypes.util
import dataclasses
import os
import time

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class SegmentError(Exception):
    pass


def _errno_text():
    return os.strerror(ctypes.get_errno())


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
        raise SegmentError(f"shmget(unit {unit}): {_errno_text()}")
    return shmid


def segment_info(unit):
    """IPC_STAT of the unit's segment, or None when it does not exist."""
    shmid = _shmid(unit)
    if shmid is None:
        return None
    ds = _ShmidDs()
    if _libc.shmctl(shmid, IPC_STAT, ctypes.byref(ds)) != 0:
        raise SegmentError(f"shmctl(IPC_STAT, unit {unit}): {_errno_text()}")
    perm = ds.shm_perm
    return SegmentInfo(shmid, ds.shm_segsz, perm.uid, perm.gid, perm.cuid,
                       perm.cgid, perm.mode & 0o777, ds.shm_nattch)


class ShmReader:
    """A read-only attachment (SHM_RDONLY: a write would fault) to one unit."""

    def __init__(self, unit):
        self.unit = unit
        self.shmid = _shmid(unit)
        if self.shmid is None:
            raise SegmentError(f"no SHM segment for unit {unit}")
        info = segment_info(unit)
        if info.size < SHM_SIZE:
            raise SegmentError(f"unit {unit} segment is {info.size} bytes, < {SHM_SIZE}")
        addr = _libc.shmat(self.shmid, None, SHM_RDONLY)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise SegmentError(f"shmat(unit {unit}, SHM_RDONLY): {_errno_text()}")
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
        raise SegmentError(f"unit {self.unit}: count kept changing over "
                   f"{attempts} reads")

    def close(self):
        if self.addr is not None:
            _libc.shmdt(self.addr)
            self.addr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
