"""A fake GNSS receiver for the NMEA integration tests, and a segment watcher
that checks what the daemon published against what the receiver sent.

Standard library only (plus harness.py for the SHM reader).

FakeReceiver sends one realistic NMEA reporting cycle a second (u-blox
style, NMEA 4.1: RMC VTG GGA GSA GSV x3 GLL, about 490 bytes, checksums
right), starting at each UTC second boundary plus `delay`, reporting that
second. Each byte is written at its own due time on a 9600 baud schedule
(start + i * 10/baud s; a sleep until each due time, so that there is no
drift) or the whole cycle at once (`paced=False`). It serves either:

- a pty (`os.openpty`, raw), whose slave is reached through a symlink in
  the test's temp dir (`receiver.path`, what the daemon's `device` names).
  The receiver keeps only the master open: a pty master polls POLLHUP while
  no one has the slave open, so the receiver sees when the daemon opens and
  closes the device (`opens`, `closes`). `close_pty()` / `open_pty()` /
  `swap_pty()` hang up the pty and put a new one behind the same symlink.
- or TCP on 127.0.0.1 (`tcp=True`; `receiver.device` is
  "tcp://127.0.0.1:PORT"), to every connected client.

Every cycle written is recorded (`cycles`, CycleRecord): the true second it
belongs to, the second it reported, whether it carried a time that may be
published, and CLOCK_REALTIME just before its first byte was written
(`first_write_ns`), which is what the daemon's receive stamp is compared
with.

Faults: `fault` is a function called with each cycle's CyclePlan before it
is written; it may change the plan: report another second (`shift`), no fix
(`fix=False`: RMC status V, GGA quality 0), break every checksum, insert
bytes inside the cycle (`inside`), send bytes between cycles (`between`),
send nothing (`silent`).
"""

import dataclasses
import errno
import os
import random
import select
import socket
import threading
import time
import tty

import harness

NS = 1_000_000_000


def realtime_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def sleep_until(deadline_ns, stop=None):
    """Sleep until CLOCK_REALTIME reaches `deadline_ns`; True if `stop` (an
    Event) was set meanwhile."""
    while True:
        left = deadline_ns - realtime_ns()
        if stop is not None and stop.is_set():
            return True
        if left <= 0:
            return False
        # Wake up in time to check `stop` during long waits.
        time.sleep(min(left / NS, 0.2))


# ----------------------------------------------------------------------------
# NMEA


def checksum(body):
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return value


def sentence(body, bad_checksum=False):
    """'GNRMC,...' -> b'$GNRMC,...*HH\\r\\n' (HH wrong when asked)."""
    value = checksum(body)
    if bad_checksum:
        value ^= 0x5A
    return f"${body}*{value:02X}\r\n".encode("ascii")


def cycle_sentences(reported, fix=True, bad_checksum=False, rmc_last=False,
                    leap_second=False):
    """One u-blox style NMEA 4.1 reporting cycle for POSIX second `reported`
    (about 490 bytes): RMC VTG GGA GSA GSV GSV GSV GLL, or with `rmc_last`
    in SiRF's order, the date-bearing RMC after the others: GGA GLL GSA GSV
    GSV GSV RMC VTG. With `leap_second`, `reported` is a day's 23:59:59 and
    the cycle names the inserted second after it, 23:59:60 of that day."""
    tm = time.gmtime(reported)
    second = tm.tm_sec + (1 if leap_second else 0)
    hms = f"{tm.tm_hour:02d}{tm.tm_min:02d}{second:02d}.00"
    date = f"{tm.tm_mday:02d}{tm.tm_mon:02d}{tm.tm_year % 100:02d}"
    lat, lon = "4807.03812,N", "01131.00046,E"
    if fix:
        status, mode, quality, used, gsa_mode = "A", "A", "1", "12", "3"
        slots = ["05", "13", "15", "18", "20", "23", "24", "29"]
        dops = "1.34,0.79,1.08"
    else:
        status, mode, quality, used, gsa_mode = "V", "N", "0", "00", "1"
        slots, dops = [], "99.99,99.99,99.99"
    gsa_sats = ",".join(slots + [""] * (12 - len(slots)))
    bodies = [
        f"GNRMC,{hms},{status},{lat},{lon},0.012,,{date},,,{mode},V",
        f"GNVTG,,T,,M,0.012,N,0.022,K,{mode}",
        f"GNGGA,{hms},{lat},{lon},{quality},{used},0.79,545.4,M,46.9,M,,",
        f"GNGSA,A,{gsa_mode},{gsa_sats},{dops},1",
        "GPGSV,3,1,11,05,33,066,42,13,60,291,45,15,40,213,44,18,22,315,40,1",
        "GPGSV,3,2,11,20,47,138,46,23,10,041,35,24,72,089,48,29,25,171,43,1",
        "GPGSV,3,3,11,10,05,305,,16,03,090,,26,01,012,,1",
        f"GNGLL,{lat},{lon},{hms},{status},{mode}",
    ]
    if rmc_last:
        rmc, vtg, gga, gsa, gsv1, gsv2, gsv3, gll = bodies
        bodies = [gga, gll, gsa, gsv1, gsv2, gsv3, rmc, vtg]
    return b"".join(sentence(b, bad_checksum) for b in bodies)


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        n % 10, "th")
    return f"{n}{suffix}"


def utc_text(second):
    return time.strftime("%H:%M:%S", time.gmtime(second))


# ----------------------------------------------------------------------------
# The receiver


@dataclasses.dataclass
class CyclePlan:
    """What one cycle sends; a fault function may change it."""
    index: int            # 0, 1, 2... counting every planned cycle
    boundary: int         # the true UTC second the cycle belongs to
    shift: int = 0        # reported - true second
    fix: bool = True
    bad_checksum: bool = False
    paced: bool = True
    silent: bool = False  # send nothing this second
    # Name 23:59:60 (shift must make `reported` that day's 23:59:59).
    leap_second: bool = False
    # Bytes inserted inside the cycle: (fraction of the cycle 0..1, bytes).
    inside: list = dataclasses.field(default_factory=list)
    # Bytes sent after the cycle: (seconds after the boundary, bytes, paced).
    between: list = dataclasses.field(default_factory=list)
    label: str = ""

    @property
    def reported(self):
        return self.boundary + self.shift

    @property
    def truthful(self):
        """The cycle carries the right time with a fix, readable: the only
        kind whose second may be published."""
        return self.fix and not self.bad_checksum and self.shift == 0


@dataclasses.dataclass
class CycleRecord:
    index: int
    boundary: int          # true second
    reported: int          # the second the sentences report
    truthful: bool         # see CyclePlan.truthful
    label: str
    first_write_ns: int    # CLOCK_REALTIME just before the first byte's write
    first_written_ns: int  # ... just after it
    end_ns: int            # after the last byte
    size: int
    delivered: bool        # someone had the device open at the first byte
    dropped: int           # bytes the device did not take (buffer full)
    max_late_ns: int = 0   # the latest a byte was written after its due time
    max_gap_ns: int = 0    # the longest time between two bytes' writes
    # verify_samples excused its sample's late stamp (a stall, the loop's
    # wait for a CPU): published, though not among the good samples.
    late_excused: bool = False

    @property
    def stalled(self):
        """This process was held up while writing the cycle: mid-cycle for
        most of a batch period (25 ms), where the daemon may rightly see two
        cycles, or before a byte for half the daemon's 50 ms timeline
        tolerance (core/timeline.hpp), where the cycle's stamp may rightly
        be refused as off the timeline (seen in CI: the whole VM held up for
        100 ms, a cycle's first byte written 70 ms late). Nothing wrong may
        be published, but the cycle may be lost."""
        return (self.max_gap_ns > 15_000_000
                or self.max_late_ns > 25_000_000
                or self.machine_stall is not None
                or self.loop_wait_ns > 25_000_000)

    @property
    def loop_wait_ns(self):
        """The longest the daemon's loop waited at once for a CPU,
        runnable, while the cycle was written or the line was to go quiet
        after it (harness.loop_wait): its stamp may be late by as much, and
        a stamp late by half the timeline tolerance may rightly be
        refused."""
        return harness.loop_wait(self.first_write_ns,
                                 self.end_ns + QUIET_GAP_NS)

    @property
    def machine_stall(self):
        """A CPU the machine took away (tests/stall-monitor) while the
        cycle was written or the line was to go quiet after it: its bytes
        may have been handed to the reader late although written on time.
        Seen under `stress-ng --cpu 2`: a no-fix cycle counted twice, the
        writer's gaps at most 1.4 ms."""
        return harness.machine_stall(self.first_write_ns,
                                     self.end_ns + QUIET_GAP_NS,
                                     longer_than_ns=MACHINE_STALL_NS)

    @property
    def reported_ns(self):
        return self.reported * NS


class FakeReceiver:
    def __init__(self, directory, name="gnss0", baud=9600, delay=0.0,
                 paced=True, tcp=False, rmc_last=False, jitter=0.0,
                 seed=None):
        self.name = name
        self.baud = baud
        self.byte_ns = 10 * NS // baud   # 8N1: 10 bits a byte
        self.delay_ns = round(delay * NS)
        # Each cycle starts delay + uniform(-jitter, +jitter) after its
        # second (a receiver whose NMEA output latency varies).
        self.jitter_ns = round(jitter * NS)
        self._rng = random.Random(seed)
        self.paced = paced
        self.tcp = tcp
        self.rmc_last = rmc_last
        self.path = os.path.join(str(directory), name)
        self.fault = None       # fn(CyclePlan) -> None, may change the plan
        self.fix = True
        self.silent = False
        self.cycles = []        # CycleRecord, in order
        self.opens = []         # realtime ns: opened (pty), connected (tcp)
        self.closes = []        # realtime ns it was closed by the other side
        self.pty_events = []    # (realtime ns, "closed"/"created") by us
        # Between-cycle writes: (start ns, end ns, size, dropped).
        self.chunks = []
        self._lock = threading.RLock()
        self._cycle_written = threading.Condition(self._lock)
        # A cycle's record is appended once its last byte is written, but
        # the daemon publishes it from its first sentences on: between the
        # two a sample has no record yet (settle()).
        self._writing = False
        self._stop = threading.Event()
        self._master = None
        self._slave_open = False
        self._clients = []
        self._listener = None
        self._threads = []
        self._planned = 0
        if tcp:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,
                                      1)
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(4)
            self.port = self._listener.getsockname()[1]
            self.device = f"tcp://127.0.0.1:{self.port}"
        else:
            self.open_pty()
            self.device = self.path

    # -- the pty ---------------------------------------------------------

    def open_pty(self):
        """A new pty behind the symlink (atomically replaced)."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo before the daemon sets the line up
        target = os.ttyname(slave)
        os.close(slave)    # only the daemon holds the slave: see opens/closes
        os.set_blocking(master, False)
        temporary = self.path + ".new"
        with self._lock:
            if self._master is not None:
                os.close(self._master)
            self._master = master
            self._slave_open = False
            with_suffix = os.path.lexists(temporary)
            if with_suffix:
                os.unlink(temporary)
            os.symlink(target, temporary)
            os.replace(temporary, self.path)
            self.pty_events.append((realtime_ns(), "created"))
        harness.log(f"{self.name}: {self.path} -> {target}")
        return target

    def close_pty(self):
        """Hang up: close the master (the slave's reader sees end of data)."""
        with self._lock:
            # Stamped before the close: os.close() lets the segment watcher
            # thread run, which can see the daemon's withdrawal before this
            # thread takes a stamp after it (seen under load, nmea_faults
            # "valid not cleared" with the withdrawal stamped 'earlier').
            now = realtime_ns()
            if self._master is not None:
                os.close(self._master)
                self._master = None
                self.pty_events.append((now, "closed"))
            if self._slave_open:
                self._slave_open = False
                self.closes.append(now)

    def swap_pty(self, gap=0.0):
        """Close the pty, wait `gap` s, create a new one behind the symlink;
        (closed_ns, created_ns)."""
        self.close_pty()
        closed = self.pty_events[-1][0]
        if gap > 0:
            time.sleep(gap)
        self.open_pty()
        return closed, self.pty_events[-1][0]

    def drop_clients(self):
        """TCP: close every connection (the daemon sees end of data)."""
        with self._lock:
            now = realtime_ns()  # before the closes, as in close_pty()
            for client in self._clients:
                client.close()
            self._clients = []
            self.closes.append(now)

    def _watch_slave(self):
        """Record when the daemon opens and closes the pty's slave: the
        master polls POLLHUP while no one has the slave open."""
        harness.realtime_thread(f"{self.name} open watcher")
        while not self._stop.is_set():
            with self._lock:
                master, was_open = self._master, self._slave_open
            if master is None:
                time.sleep(0.01)
                continue
            poller = select.poll()
            poller.register(master, 0)  # HUP, ERR and NVAL only
            try:
                # Never block in poll: a close() of the master by another
                # thread would only take effect (hang up the slave) when the
                # poll returns.
                events = poller.poll(0)
            except OSError:
                continue
            hup = bool(events) and bool(events[0][1] & (select.POLLHUP |
                                                       select.POLLNVAL))
            now = realtime_ns()
            with self._lock:
                if master != self._master:
                    continue  # swapped meanwhile
                if was_open and hup:
                    self._slave_open = False
                    self.closes.append(now)
                elif not was_open and not hup:
                    self._slave_open = True
                    self.opens.append(now)
            time.sleep(0.005)

    # -- TCP -------------------------------------------------------------

    def _accept(self):
        harness.realtime_thread(f"{self.name} acceptor")
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setblocking(False)
            with self._lock:
                self._clients.append(client)
                self.opens.append(realtime_ns())

    # -- writing ---------------------------------------------------------

    def _connected(self):
        with self._lock:
            return bool(self._clients) if self.tcp else self._slave_open

    def _write(self, data):
        """Write what the device takes now; (bytes taken)."""
        with self._lock:
            if self.tcp:
                taken = 0
                for client in list(self._clients):
                    try:
                        taken = max(taken, client.send(data))
                    except BlockingIOError:
                        pass
                    except OSError:
                        client.close()
                        self._clients.remove(client)
                        self.closes.append(realtime_ns())
                return taken
            if self._master is None:
                return 0
            try:
                return os.write(self._master, data)
            except BlockingIOError:
                return 0
            except OSError as err:
                if err.errno in (errno.EIO, errno.EBADF):
                    return 0
                raise

    def _write_all(self, data, timeout=5.0):
        """A burst: everything, waiting for room (at most `timeout` s);
        the number of bytes dropped."""
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view and time.monotonic() < deadline and not self._stop.is_set():
            taken = self._write(bytes(view[:65536]))
            view = view[taken:]
            if view and taken == 0:
                time.sleep(0.001)
        return len(view)

    def _write_paced(self, data, start_ns):
        """Byte i at start + i byte times; bytes the device did not take are
        dropped (a UART overruns too). (first_write_ns, first_written_ns,
        end_ns, dropped, max_late_ns, max_gap_ns)."""
        first = first_done = previous = None
        dropped = max_late = max_gap = 0
        for i in range(len(data)):
            due = start_ns + i * self.byte_ns
            if sleep_until(due, self._stop):
                break
            before = realtime_ns()
            taken = self._write(data[i:i + 1])
            if first is None:
                first, first_done = before, realtime_ns()
                # A UART sends at the line rate from whenever it starts: if
                # this process was held up before the first byte, the cycle
                # starts late rather than catching up in a burst (which the
                # daemon would date back at the line rate, to before the
                # first write).
                start_ns = max(start_ns, before)
            else:
                max_gap = max(max_gap, before - previous)
            previous = before
            max_late = max(max_late, before - due)
            dropped += 1 - taken
        return (first, first_done, realtime_ns(), dropped, max_late,
                max_gap)

    def _render(self, plan):
        data = cycle_sentences(plan.reported, plan.fix, plan.bad_checksum,
                               self.rmc_last, plan.leap_second)
        # Insert from the back so that earlier positions stay put.
        for fraction, chunk in sorted(plan.inside, key=lambda x: -x[0]):
            at = min(len(data), max(0, round(fraction * len(data))))
            data = data[:at] + chunk + data[at:]
        return data

    def _plan(self, boundary):
        plan = CyclePlan(index=self._planned, boundary=boundary,
                         fix=self.fix, paced=self.paced, silent=self.silent)
        self._planned += 1
        if self.fault is not None:
            self.fault(plan)
        return plan

    def _run(self):
        harness.realtime_thread(f"{self.name} writer")
        boundary = realtime_ns() // NS + 1
        while not self._stop.is_set():
            start_ns = boundary * NS + self.delay_ns
            if self.jitter_ns:
                start_ns += self._rng.randint(-self.jitter_ns, self.jitter_ns)
            if sleep_until(start_ns, self._stop):
                return
            plan = self._plan(boundary)
            if not plan.silent:
                data = self._render(plan)
                delivered = self._connected()
                with self._lock:
                    self._writing = True
                if plan.paced:
                    (first, first_done, end, dropped, late,
                     gap) = self._write_paced(data, start_ns)
                else:
                    first = realtime_ns()
                    dropped = self._write_all(data, timeout=0.5)
                    first_done = end = realtime_ns()
                    late, gap = first - start_ns, 0
                if first is None:
                    with self._lock:
                        self._writing = False
                        self._cycle_written.notify_all()
                    return  # stopped
                record = CycleRecord(plan.index, boundary, plan.reported,
                                     plan.truthful, plan.label, first,
                                     first_done, end, len(data), delivered,
                                     dropped, late, gap)
                with self._lock:
                    self.cycles.append(record)
                    self._writing = False
                    self._cycle_written.notify_all()
            for at, chunk, paced in plan.between:
                chunk_start = boundary * NS + round(at * NS)
                if sleep_until(chunk_start, self._stop):
                    return
                if paced:
                    dropped = self._write_paced(chunk, chunk_start)[3]
                else:
                    dropped = self._write_all(chunk)
                with self._lock:
                    self.chunks.append((chunk_start, realtime_ns(),
                                        len(chunk), dropped))
            boundary += 1
            late = realtime_ns() - (boundary * NS + self.delay_ns)
            if late > 0:
                skipped = late // NS + 1
                harness.log(f"{self.name}: writer {late / 1e6:.0f} ms late; "
                            f"skipping {skipped} cycle(s)")
                boundary += skipped

    # -- control ---------------------------------------------------------

    def start(self):
        targets = [self._run]
        targets.append(self._accept if self.tcp else self._watch_slave)
        for target in targets:
            thread = threading.Thread(target=target, daemon=True,
                                      name=f"{self.name}-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        with self._lock:
            self._cycle_written.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients = []
            if self._listener is not None:
                self._listener.close()
            if self._master is not None:
                os.close(self._master)
                self._master = None

    def wait_cycles(self, count, timeout=None):
        """Wait until `count` more cycles have been written; the last one's
        record."""
        timeout = timeout if timeout is not None else count + 3
        with self._lock:
            target = len(self.cycles) + count
            deadline = time.monotonic() + timeout
            while len(self.cycles) < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    raise harness.Fail(f"{self.name}: {count} cycles not "
                                       f"written within {timeout} s")
                self._cycle_written.wait(left)
            return self.cycles[-1]

    def settle(self, timeout=3.0):
        """Wait until the cycle being written (if any) has its record: a
        sample read before this call then belongs to a recorded cycle."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._writing and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise harness.Fail(f"{self.name}: a cycle still being "
                                       f"written after {timeout} s")
                self._cycle_written.wait(left)

    def wait_opened(self, timeout, after_ns=0):
        """Realtime ns at which the device was (next) opened by the daemon."""
        def opened():
            with self._lock:
                later = [t for t in self.opens if t > after_ns]
            return later[0] if later else None
        return harness.wait_until(opened, timeout,
                                  f"the daemon to open {self.device}",
                                  interval=0.01)

    def record_for(self, receive_ns):
        """The cycle whose first write began last before `receive_ns`."""
        with self._lock:
            best = None
            for record in self.cycles:
                if record.first_write_ns <= receive_ns:
                    best = record
                else:
                    break
            return best

    def record_reporting(self, clock_ns):
        """The latest cycle whose sentences named `clock_ns` (offset 0).
        A sample's reference time names its cycle even when the stamp does
        not: after the writer was held up, a burst of queued bytes is dated
        back at the line rate to before the cycle's first write."""
        with self._lock:
            matches = [r for r in self.cycles if r.reported_ns == clock_ns]
            return matches[-1] if matches else None

    def record_by_second(self, boundary):
        with self._lock:
            for record in self.cycles:
                if record.boundary == boundary:
                    return record
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ----------------------------------------------------------------------------
# Garbage


def random_garbage(rng, low, high, printable_ok=True):
    """Random bytes (`rng` a random.Random); with printable_ok=False at
    least one byte is a control character other than CR/LF, so that an
    insertion can never leave a sentence readable (a pair of equal printable
    bytes keeps the XOR checksum: "19.00" -> "19.1100" would still check)."""
    data = bytearray(rng.randrange(256) for _ in range(rng.randint(low, high)))
    if not printable_ok:
        data[rng.randrange(len(data))] = rng.choice(
            [b for b in range(32) if b not in (10, 13)])
    return bytes(data)


# ----------------------------------------------------------------------------
# Watching the segment


@dataclasses.dataclass(frozen=True)
class Observation:
    seen_ns: int            # CLOCK_REALTIME when read
    sample: harness.Sample


class SegmentWatcher:
    """Reads a unit every `interval` s in a thread. Keeps every distinct
    valid sample (first sighting) and every change of `valid`."""

    def __init__(self, unit, interval=0.02):
        self.unit = unit
        self.interval = interval
        self.samples = []       # Observation: first sighting of each
        self.valid_changes = [] # (seen_ns, valid)
        self.reads = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self.error = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"watch-unit-{self.unit}")
        self._thread.start()
        return self

    def _run(self):
        reader = None
        last_key = None
        last_valid = None
        try:
            while not self._stop.is_set():
                if reader is None and harness.segment_info(self.unit):
                    reader = harness.ShmReader(self.unit)
                if reader is not None:
                    sample = reader.read()
                    now = realtime_ns()
                    with self._lock:
                        self.reads += 1
                        if sample.valid != last_valid:
                            self.valid_changes.append((now, sample.valid))
                            last_valid = sample.valid
                        if sample.valid == 1 and sample.key() != last_key:
                            self.samples.append(Observation(now, sample))
                            last_key = sample.key()
                time.sleep(self.interval)
        except Exception as err:  # reported by stop()
            self.error = err
        finally:
            if reader is not None:
                reader.close()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.error is not None:
            raise harness.Fail(f"segment watcher for unit {self.unit}: "
                               f"{self.error}")

    def snapshot(self):
        with self._lock:
            return list(self.samples), list(self.valid_changes)

    def valid_now(self):
        with self._lock:
            return self.valid_changes[-1][1] if self.valid_changes else None

    def first_sample_after(self, after_ns):
        with self._lock:
            for observation in self.samples:
                if observation.sample.receive_ns > after_ns:
                    return observation
        return None

    def invalid_since(self, after_ns):
        """seen_ns of the first `valid == 0` seen after `after_ns`."""
        with self._lock:
            for seen, valid in self.valid_changes:
                if seen > after_ns and valid == 0:
                    return seen
        return None


# The daemon's quiet gap (NmeaCore::quiet_gap_ns): a line idle this long
# ends a cycle.
QUIET_GAP_NS = 40_000_000
# A machine stall (tests/stall-monitor) that can cost a cycle: the daemon
# ends a cycle on a line quiet for half its 25 ms batch period
# (core/nmea_core.hpp). Shorter ones are common on this VM under a test's
# own load (up to 25 ms seen) and cost nothing.
MACHINE_STALL_NS = 10_000_000


def max_first_byte_latency_ns():
    """How long after a cycle's first byte was written its receive stamp may
    be: ~0.1 ms here, but the machine is shared and the suites run two at a
    time. What a test must tell apart is the first byte's arrival from the
    end of RMC (~75 ms into the cycle at 9600 baud) or of the cycle (~0.5 s).
    30 ms, less than half of the first; 40 ms for the sanitizer build, whose
    wake-ups are slower (a cycle's stamp 17.6 ms late was seen there in CI
    with the machine busy). CI runs the suites beside compiles
    (tests/README.md, "Timing"): how late the stamp is on a quiet machine is
    a bench figure (bench/), not this bound."""
    global _max_first_byte_latency_ns
    if _max_first_byte_latency_ns is None:
        _max_first_byte_latency_ns = (
            40_000_000 if harness.sanitized(harness.daemon_binary())
            else 30_000_000)
    return _max_first_byte_latency_ns


_max_first_byte_latency_ns = None


def verify_samples(observations, receiver, offset_ns, max_latency_ns,
                   max_error_ns=50_000_000):
    """Check every observed sample against what the receiver(s) sent; a list
    of problems (empty: all good) and a list of (observation, record,
    latency_ns) for the good ones.

    A sample is right when its reference time is exactly the second the
    cycle reported plus the configured offset, that cycle was truthful (a
    fix, readable, the true second), and its receive time is at most
    `max_latency_ns` after the cycle's first byte was written. Independently
    of the stamp's match: reference - receive is within `max_error_ns` of
    the offset minus the receiver's delay as the fake wrote it (a wrong
    second is off by 1 s; a stamp from the wrong byte by tens of ms)."""
    problems, good = [], []
    # The observations were read before this call: the cycle the last of
    # them came from may still be being written (a race seen in CI).
    receiver.settle()
    for observation in observations:
        sample = observation.sample
        record = receiver.record_for(sample.receive_ns)
        if record is not None and record.reported_ns + offset_ns != sample.clock_ns:
            # A burst of queued bytes (the daemon was held up) is dated
            # back at the line rate, and may be dated to just before its
            # cycle's first write when the writer itself was late: then
            # the stamp precedes the record it belongs to, and the sample's
            # reference names that next cycle.
            named = receiver.record_reporting(sample.clock_ns - offset_ns)
            if (named is not None and named.index == record.index + 1 and
                    named.first_write_ns - sample.receive_ns <= max_latency_ns):
                record = named
        # The writer's own lateness at this cycle's first byte: the cycle
        # starts late when the fake was held up before it (under load), and
        # the daemon rightly stamps the late byte. The byte went out
        # between first_write_ns and first_written_ns (this process may wait
        # for its lock and the GIL in between, tens of ms under load), so
        # the error is the distance from that interval. A wrong second is
        # off by a whole second whatever the fake's lateness.
        if record is not None:
            earliest = record.first_write_ns - record.boundary * NS
            latest = record.first_written_ns - record.boundary * NS
        else:
            earliest = latest = receiver.delay_ns
        delay_ns = offset_ns - (sample.clock_ns - sample.receive_ns)
        error = (earliest - delay_ns if delay_ns < earliest else
                 delay_ns - latest if delay_ns > latest else 0)
        if abs(error) > max_error_ns:
            held_ns, why = (hold_up(record.first_write_ns, sample.receive_ns)
                            if record is not None else (0, None))
            # A stall or the loop's wait makes a stamp late by as long as it
            # lasted, never early and never a second wrong: the reference
            # must be its own truthful cycle's.
            if (why is not None and 0 < error <= held_ns + max_error_ns
                    and sample.clock_ns == record.reported_ns + offset_ns
                    and record.truthful):
                harness.log(f"{receiver.name}: cycle {record.index}: "
                            f"reference - receive {error / 1e6:+.3f} ms off, "
                            f"excused: {why}")
                record.late_excused = True
                continue
            if (record is not None and record.max_gap_ns >= QUIET_GAP_NS
                    and abs(error) <= record.max_gap_ns + max_error_ns):
                # This process was held up mid-cycle long enough for the
                # line to go quiet: any reader sees two cycles there, and
                # the second is stamped at its own first byte, late by at
                # most the stall.
                harness.log(f"{receiver.name}: cycle {record.index}: "
                            f"reference - receive {error / 1e6:+.3f} ms off, "
                            f"excused: the fake stalled "
                            f"{record.max_gap_ns / 1e6:.1f} ms mid-cycle")
                continue
            gap = (f"; cycle {record.index} written with at most "
                   f"{record.max_gap_ns / 1e6:.1f} ms between two bytes"
                   if record is not None else "")
            problems.append(f"reference - receive is {error / 1e6:+.3f} ms "
                            "off the offset minus the receiver's delay: "
                            f"{sample}{gap}; held up: {why or 'nothing seen'}")
            continue
        if record is None:
            problems.append(f"no cycle was written before {sample}")
            continue
        # After the first byte's write returned, at the latest.
        latency = sample.receive_ns - record.first_written_ns
        expected = record.reported_ns + offset_ns
        if sample.clock_ns != expected:
            problems.append(f"reference {sample.clock_ns} != cycle "
                            f"{record.index}'s reported "
                            f"{utc_text(record.reported)} + offset = "
                            f"{expected}: {sample}")
        elif not record.truthful:
            problems.append(f"published cycle {record.index} "
                            f"({record.label or 'faulty'}, reported "
                            f"{utc_text(record.reported)} at true "
                            f"{utc_text(record.boundary)}): {sample}")
        elif latency > max_latency_ns and latency <= (held := hold_up(
                record.first_written_ns, sample.receive_ns))[0] + max_latency_ns:
            harness.log(f"{receiver.name}: cycle {record.index}: receive "
                        f"stamp {latency / 1e6:.3f} ms after its first byte, "
                        f"excused: {held[1]}")
            record.late_excused = True
        elif latency > max_latency_ns:
            problems.append(f"receive stamp {latency / 1e6:.3f} ms after "
                            f"cycle {record.index}'s first byte (> "
                            f"{max_latency_ns / 1e6} ms; held up: "
                            f"{held[1] or 'nothing seen'}): {sample}")
        else:
            good.append((observation, record, latency))
    return problems, good


def hold_up(start_ns, end_ns):
    """The longest the machine held a cycle's bytes or the daemon up within
    [start_ns, end_ns], as (ns, why), or (0, None): a stall (a CPU gone, a
    pty's bytes handed over late: tests/stall-monitor) or the daemon's loop
    waiting at once for a CPU (harness.loop_wait). A stamp may be late by
    as much, never a second wrong."""
    stall = harness.machine_stall(start_ns, end_ns)
    waited = harness.loop_wait(start_ns, end_ns)
    if stall is not None and stall[2] - stall[1] >= waited:
        return stall[2] - stall[1], harness.stall_text(stall)
    if waited:
        return waited, (f"the daemon's loop waited {waited / 1e6:.1f} ms at "
                        "once for a CPU")
    return 0, None


def held_up(record, latency_ns):
    """Why a cycle's stamp may have been late through the machine rather
    than the daemon (hold_up between its first byte's write and the stamp),
    or None. For statistics of the daemon's own latency, which such a cycle
    would skew (seen in CI: a pty's bytes handed over 38 ms late, 27 times
    in one 30-second test)."""
    return hold_up(record.first_write_ns,
                   record.first_written_ns + latency_ns)[1]


def excused(receiver, min_fixes):
    """Indexes of cycles that may rightly be lost because the fake receiver
    itself stalled: a stalled cycle and the min-fixes cycles after it."""
    result = set()
    for record in receiver.cycles:
        if record.late_excused:
            result.add(record.index)
        if record.stalled:
            stall = record.machine_stall
            harness.log(f"{receiver.name}: cycle {record.index} stalled: "
                        f"{record.max_gap_ns / 1e6:.1f} ms between two "
                        f"bytes, a byte {record.max_late_ns / 1e6:.1f} ms "
                        "late" + (f", {harness.stall_text(stall)}"
                                  if stall else "")
                        + f", the daemon's loop waited "
                        f"{record.loop_wait_ns / 1e6:.1f} ms at once for a CPU")
            result.update(range(record.index, record.index + min_fixes + 1))
    return result


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def sanitizer_reports(text):
    """Lines of a log that a sanitizer (or a crash) wrote."""
    markers = ("AddressSanitizer", "LeakSanitizer",
               "UndefinedBehaviorSanitizer", "ThreadSanitizer",
               "runtime error:", "Segmentation fault", "terminate called",
               "Assertion")
    return [line for line in text.splitlines()
            if any(marker in line for marker in markers)]


def daemon_config(ctx, refclocks, name="nmea", log_level="debug"):
    """Write a config with the given [[refclock]] tables (dicts, values
    already as TOML text) and return its path."""
    text = f'[daemon]\nlog-level = "{log_level}"\n'
    for table in refclocks:
        text += "\n[[refclock]]\n"
        for key, value in table.items():
            text += f"{key} = {value}\n"
    return ctx.write(f"shmrefclock-{name}.conf", text)


def toml_string(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
