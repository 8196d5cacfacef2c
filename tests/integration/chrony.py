"""A private chronyd for the integration tests, and how to read it.

chronyd always runs with -x (it never touches the clock; the harness has
also dropped CAP_SYS_TIME), with no NTP or UDP command port, its command
socket, pidfile, drift file and logs in the test's temp dir. What chrony 4.3
shows under -x, worked out in test_chrony.py's docstring: `tracking`
"System time" is the full offset of the selected refclock ("fast" when the
system clock is ahead of it); refclocks.log's "Raw offset" is each sample's
reference - receive time.
"""

import datetime
import re

import harness
from harness import check

# One sample per second (dpoll 0), each one a measurement (poll 0, filter
# 1), so chrony selects a refclock after about three samples.
FAST = "dpoll 0 poll 0 filter 1"


class Chronyd:
    def __init__(self, ctx, refclock_lines, name="chronyd"):
        self.ctx = ctx
        self.binary = harness.require_program("/usr/sbin/chronyd", "chrony")
        self.chronyc_binary = harness.require_program("chronyc", "chrony")
        self.sock = ctx.path(f"{name}.sock")
        self.conf = ctx.write(f"{name}.conf", "\n".join(refclock_lines) + f"""
port 0
cmdport 0
bindcmdaddress {self.sock}
pidfile {ctx.path(f"{name}.pid")}
driftfile {ctx.path(f"{name}.drift")}
logdir {ctx.tmp}
log refclocks tracking
""")

    def start(self, name="chronyd", env=None):
        """Start chronyd; return once chronyc can reach it (its command
        socket exists), so that the first query cannot race its start-up.
        `env`: its environment (libfaketime for a faked date)."""
        if self.sock.exists():
            self.sock.unlink()  # left by an earlier run of this chronyd
        proc = self.ctx.start(name, [self.binary, "-x", "-d", "-u", "root",
                                     "-f", self.conf], env=env)
        harness.wait_until(self.sock.exists, 10,
                           f"{name} to bind {self.sock}", watch=[proc])
        return proc

    def chronyc(self, *args):
        done = self.ctx.run("chronyc", [self.chronyc_binary, "-h", self.sock,
                                        "-n", *args], timeout=10)
        check(done.returncode == 0,
              f"chronyc {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def tracking(self):
        return parse_tracking(self.chronyc("tracking"))

    def wait_selected(self, refid, timeout, watch):
        """Wait until chrony has selected the refclock `refid` (its
        `tracking` Reference ID), failing at once if a watched Proc exits."""
        refid_hex = refid.encode().hex().upper()

        def selected():
            return self.tracking().get("Reference ID", "").startswith(refid_hex)

        harness.wait_until(selected, timeout, f"chrony to select {refid}",
                           interval=0.5, watch=watch)


def parse_tracking(text):
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def system_time_fast(value):
    """'1.000000000 seconds fast of NTP time' -> +1.0 (slow -> negative)."""
    match = re.fullmatch(r"([0-9.]+) seconds (fast|slow) of NTP time", value)
    check(match is not None, f"unexpected 'System time' value: {value!r}")
    magnitude = float(match.group(1))
    return magnitude if match.group(2) == "fast" else -magnitude


def refclock_raw_samples(path, refid):
    """(time, 'Raw offset') of each sample of `refid` in chrony's
    refclocks.log: the sample's time (UTC, POSIX seconds) and its offset."""
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        cols = line.split()
        # Date Time Refid DP L P Raw-offset Cooked-offset Disp.; lines with
        # '-' for DP are the filter's outputs, not raw samples.
        if len(cols) == 9 and cols[2] == refid and cols[3] != "-":
            when = datetime.datetime.strptime(f"{cols[0]} {cols[1]}", "%Y-%m-%d %H:%M:%S.%f")
            samples.append((when.replace(tzinfo=datetime.timezone.utc).timestamp(),
                            float(cols[6])))
    return samples


def refclock_raw_offsets(path, refid):
    """'Raw offset' of each sample of `refid` in chrony's refclocks.log."""
    return [offset for _, offset in refclock_raw_samples(path, refid)]


def tracking_log_offsets(path, refid):
    """'Offset' of each clock update from `refid` in tracking.log."""
    offsets = []
    for line in path.read_text().splitlines():
        cols = line.split()
        # Date Time IP St Freq Skew Offset L Co Offset-sd Rem.corr ...
        if len(cols) >= 7 and cols[2] == refid:
            offsets.append(float(cols[6]))
    return offsets
