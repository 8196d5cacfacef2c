#!/usr/bin/python3
"""Web and control clients cannot delay a stamp (issue 18, item 4).

A daemon with an nmea refclock (unit 0, min-fixes 1) fed by a fake receiver
on a pty paced at 9600 baud, the HTTP listener and the control socket. The
stamp lateness of each cycle (the daemon's receive stamp - the fake's write
of the cycle's first byte) is measured first with no client (QUIET_CYCLES),
then with, from another process (so that its threads cannot hold up the
fake receiver's, which share a GIL):

- 6 clients fetching the status page `/` continuously (keep-alive);
- 40 slow HTTP clients, each sending one byte of a request every 4 s, and
  connecting again at once when the daemon closes them;
- one HTTP client that pipelines 100 GET / and never reads;
- 20 slow control clients (a byte every 4 s), reconnecting likewise, and
  one that asks `status history` and never reads.

Asserted, while the load runs: GET /metrics (a new connection each time,
while every slot is wanted) answers 200, each within 1 s (a bound on the
median; single answers within 3 s, on a machine shared with CI's compiles);
the control socket's `status` answers likewise; each probe is asked once
(a newcomer is not closed for another within the slots' grace period); the
slow clients are closed by the daemon (the longest-idle one makes room for a
new one);
every cycle of the load is published. Compared with the quiet run, the
median stamp lateness under load is at most 2 ms more. The 90th
percentile and the maximum are logged, not asserted: beside
`stress-ng --cpu 2` under the sanitizers the p90 was 5.5 ms once (issue
17's stress runs), a figure of the machine's load as much as of the
daemon's, so the tail
is a bench figure (bench/http_load.py, many more cycles). After the load, a
lone slow HTTP client and a lone client that never reads its responses
are closed at the connection's 30 s lifetime, not before, while /metrics
answers. The daemon exits 0 on SIGTERM, without sanitizer reports.

The precise figures (percentiles over hundreds of cycles, on a quiet
machine) are bench/http_load.py's.
"""

import faulthandler
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

NS = 1_000_000_000
FETCHERS = 6
SLOW_HTTP = 40
SLOW_CONTROL = 20
SLOW_PERIOD_S = 4.0
LIFETIME_S = 30.0          # HttpServer::connection_lifetime_ns


# ----------------------------------------------------------------------------
# The load (a separate process: python3 test_http_load.py --load PORT PATH)

def fetcher(port, stop, counts, lock):
    import http.client
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            with lock:
                counts["pages"] += 1
                counts["page_bytes"] += len(body)
                if response.status != 200:
                    counts["page_errors"] += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            with lock:
                counts["fetch_reconnects"] += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def slow_clients(connect, first, count, stop, counts, key, lock):
    """`count` connections that send `first`, then one byte every
    SLOW_PERIOD_S; one the daemon closes is counted and opened again."""
    socks = {}
    next_byte = {}

    def open_one():
        try:
            s = connect()
            s.setblocking(False)
            s.send(first)
            socks[s.fileno()] = s
            next_byte[s.fileno()] = time.monotonic() + SLOW_PERIOD_S
        except OSError:
            with lock:
                counts[key + "_connect_failed"] += 1
            time.sleep(0.05)

    while not stop.is_set():
        while len(socks) < count and not stop.is_set():
            open_one()
        readable, _, _ = select.select(list(socks.values()), [], [], 0.1)
        now = time.monotonic()
        closed = []
        for s in readable:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed.append(s)
            else:
                with lock:
                    counts[key + "_replies"] += 1
        for fd, s in list(socks.items()):
            if s in closed or next_byte[fd] > now:
                continue
            try:
                s.send(b"a")
                next_byte[fd] = now + SLOW_PERIOD_S
            except OSError:
                closed.append(s)
        for s in closed:
            with lock:
                counts[key + "_closed_by_daemon"] += 1
            socks.pop(s.fileno(), None)
            next_byte.pop(s.fileno(), None)
            s.close()
    for s in socks.values():
        s.close()


def never_reader(connect, request, stop, counts, key, lock):
    while not stop.is_set():
        s = connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.setblocking(False)
        try:
            s.send(request)
        except OSError:
            pass
        # Held, unread, until the daemon closes it (or the load ends): the
        # close shows as a hang-up even with the reply unread.
        poller = select.poll()
        poller.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        while not stop.is_set() and not poller.poll(100):
            pass
        with lock:
            counts[key] += 1
        s.close()


def load(port, control_path):
    counts = {k: 0 for k in (
        "pages", "page_bytes", "page_errors", "fetch_reconnects",
        "slow_http_connect_failed", "slow_http_replies", "slow_http_closed_by_daemon",
        "slow_control_connect_failed", "slow_control_replies",
        "slow_control_closed_by_daemon", "nonreader_http_closed",
        "nonreader_control_closed")}
    lock = threading.Lock()
    stop = threading.Event()

    def tcp():
        return socket.create_connection(("127.0.0.1", port), timeout=3)

    def unix():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(control_path)
        return s

    threads = [threading.Thread(target=fetcher, args=(port, stop, counts, lock))
               for _ in range(FETCHERS)]
    threads.append(threading.Thread(target=slow_clients, args=(
        tcp, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", SLOW_HTTP, stop, counts,
        "slow_http", lock)))
    threads.append(threading.Thread(target=slow_clients, args=(
        unix, b"s", SLOW_CONTROL, stop, counts, "slow_control", lock)))
    threads.append(threading.Thread(target=never_reader, args=(
        tcp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100, stop, counts,
        "nonreader_http_closed", lock)))
    threads.append(threading.Thread(target=never_reader, args=(
        unix, b"status history\n", stop, counts, "nonreader_control_closed", lock)))
    for t in threads:
        t.start()
    print("started", flush=True)
    sys.stdin.readline()  # until the test says stop
    stop.set()
    for t in threads:
        t.join()
    print(json.dumps(counts), flush=True)


if len(sys.argv) == 4 and sys.argv[1] == "--load":
    load(int(sys.argv[2]), sys.argv[3])
    sys.exit(0)


# ----------------------------------------------------------------------------
# The test

import fake_receiver  # noqa: E402
import harness  # noqa: E402
from fake_receiver import FakeReceiver, SegmentWatcher, toml_string  # noqa: E402
from harness import check, log  # noqa: E402
from http_util import config, free_port, request, wait_listening  # noqa: E402

QUIET_CYCLES = 30
LOAD_CYCLES = 30


def latencies(watcher, receiver, since_ns, until_ns):
    samples, _ = watcher.snapshot()
    problems, good = fake_receiver.verify_samples(samples, receiver, 0, 500_000_000)
    window = [latency for _, record, latency in good
              if since_ns <= record.first_write_ns < until_ns]
    indexes = {record.index for _, record, _ in good
               if since_ns <= record.first_write_ns < until_ns}
    return problems, window, indexes


def summary(values):
    return (fake_receiver.percentile(values, 0.5), fake_receiver.percentile(values, 0.9),
            max(values))


def timed(fn):
    started = time.monotonic()
    try:
        result = fn()
    except OSError as err:
        result = err
    return result, time.monotonic() - started


def ask_control(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(str(path))
        s.sendall(b"status\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def metrics_ok(got):
    return not isinstance(got, Exception) and got[0] == 200 and \
        b"shmrefclock_samples_published_total" in got[2]


def control_ok(got):
    return not isinstance(got, Exception) and b'"pid"' in got


def quiet_phase(receiver, cycles):
    start = fake_receiver.realtime_ns()
    receiver.wait_cycles(cycles, timeout=cycles + 30)
    return start, fake_receiver.realtime_ns()


def load_phase(ctx, port, control_path, daemon, receiver, cycles, strict=True):
    """Runs the load for `cycles` cycles, probing /metrics and status every
    half second: (start ns, end ns, the load's counts, /metrics times,
    status times)."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--load", str(port), str(control_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(ctx.path("load.err"), "a"), text=True)
    try:
        check(proc.stdout.readline().strip() == "started",
              f"the load did not start: {open(ctx.path('load.err')).read()[-2000:]}")
        start = fake_receiver.realtime_ns()
        metrics_s, control_s, problems = [], [], []
        target = len(receiver.cycles) + cycles
        while len(receiver.cycles) < target:
            check(daemon.running(), "the daemon died under the load")
            check(proc.poll() is None, "the load process ended")
            # One attempt each: a newcomer has the slots' grace period to
            # send its request, and the load's flood fits in the overflow,
            # so a probe is never closed to make room (core/client_slots).
            got, took = timed(lambda: request(port, "/metrics", timeout=10))
            metrics_s.append(took)
            if not metrics_ok(got):
                problems.append(f"GET /metrics under load: {got!r:.200}")
            got, took = timed(lambda: ask_control(control_path))
            control_s.append(took)
            if not control_ok(got):
                problems.append(f"status under load: {got!r:.200}")
            time.sleep(0.5)  # a probe every half second, not a wait
        end = fake_receiver.realtime_ns()
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
        check(proc.returncode == 0,
              f"the load process failed: {open(ctx.path('load.err')).read()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    counts = json.loads(out.strip().splitlines()[-1])
    log(f"load: {counts}")
    log(f"GET /metrics under load ({len(metrics_s)}): median "
        f"{fake_receiver.percentile(metrics_s, 0.5) * 1e3:.1f} ms, max "
        f"{max(metrics_s) * 1e3:.1f} ms; status: median "
        f"{fake_receiver.percentile(control_s, 0.5) * 1e3:.1f} ms, max "
        f"{max(control_s) * 1e3:.1f} ms")
    if strict:
        check(not problems, f"{len(problems)} failed probes: {problems[:3]}")
    elif problems:
        # The bench reports them instead of stopping.
        log(f"{len(problems)} failed probes: {problems[:3]}")
    counts["failed_probes"] = len(problems)
    for what, values in (("GET /metrics", metrics_s), ("status", control_s)):
        check(fake_receiver.percentile(values, 0.5) <= 1.0,
              f"{what} under load: median {fake_receiver.percentile(values, 0.5):.3f} s")
        check(max(values) <= 3.0, f"{what} under load: one took {max(values):.3f} s")
    check(counts["pages"] >= cycles, f"only {counts['pages']} pages fetched")
    check(counts["page_errors"] == 0, f"{counts['page_errors']} pages not 200")
    check(counts["slow_http_closed_by_daemon"] > 0,
          "no slow HTTP client was closed by the daemon")
    check(counts["slow_control_closed_by_daemon"] > 0,
          "no slow control client was closed by the daemon")
    return start, end, counts, metrics_s, control_s


def body(ctx):
    # bench/http_load.py runs this with more cycles and rounds (quiet, load,
    # quiet, load, ...) and reads the BENCH line.
    cycles = int(os.environ.get("SHMREFCLOCK_BENCH_CYCLES", "0")) or None
    rounds = int(os.environ.get("SHMREFCLOCK_BENCH_ROUNDS", "1"))
    quiet_cycles, load_cycles = cycles or QUIET_CYCLES, cycles or LOAD_CYCLES
    if cycles is None:
        # Where it hangs, if it does, before the harness's timeout kills it.
        faulthandler.dump_traceback_later(270, exit=False, file=sys.stdout)
    port = free_port()
    control_path = ctx.path("control")
    receiver = FakeReceiver(ctx.tmp, "gnss0").start()
    watcher = SegmentWatcher(0).start()
    try:
        cfg = config(ctx, port, [{
            "name": '"gps"', "source": '"nmea"',
            "device": toml_string(receiver.device), "baud": 9600, "unit": 0,
            "offset": "0.0", "min-fixes": 1}])
        text = open(cfg).read().replace(
            "[daemon]\n", f"[daemon]\ncontrol = {toml_string(str(control_path))}\n", 1)
        with open(cfg, "w") as f:
            f.write(text)
        daemon = ctx.start("shmrefclock", [harness.daemon_binary(), "-c", cfg])
        wait_listening(port, daemon)
        harness.wait_for_valid_sample(0, 10, watch=[daemon])
        global baseline_sockets
        # The listener, the control socket: none of them a client's.
        baseline_sockets = harness.wait_until(
            lambda: socket_fds(daemon.pid) or None, 10, "the daemon's sockets")

        quiet_windows, load_windows, metrics_s, control_s = [], [], [], []
        failed_probes = 0
        for _ in range(rounds):
            quiet_windows.append(quiet_phase(receiver, quiet_cycles))
            log(f"quiet: {quiet_cycles} cycles; the load starts")
            start, end, counts, m, c = load_phase(ctx, port, control_path, daemon, receiver,
                                                  load_cycles, strict=cycles is None)
            failed_probes += counts["failed_probes"]
            load_windows.append((start, end))
            metrics_s += m
            control_s += c

        if cycles is None:
            # The lifetime: a lone slow client and a lone non-reader.
            lifetime_checks(port, daemon)

        samples_problems = []
        quiet, loaded, missed = [], [], []
        excused = fake_receiver.excused(receiver, 1)
        for since, until in quiet_windows:
            problems, window, _ = latencies(watcher, receiver, since, until)
            samples_problems += problems
            quiet += window
        for since, until in load_windows:
            _, window, published = latencies(watcher, receiver, since, until)
            loaded += window
            written = [r.index for r in receiver.cycles
                       if since <= r.first_write_ns and r.end_ns < until]
            missed += [i for i in written if i not in published and i not in excused]
        check(not samples_problems, f"wrong samples: {samples_problems[:5]}")
        check(len(quiet) >= rounds * (quiet_cycles - 3), f"only {len(quiet)} quiet samples")
        # Samples keep coming under the load, not every cycle: in CI the
        # sanitizer suite and the background compiles share the two CPUs
        # with the load's clients, and a cycle whose first byte the daemon
        # could read only 58 ms late was (rightly) refused as off the
        # timeline (2c9f45a's CI trial, the fake receiver not stalled). A
        # late stamp is refused, never published: the wrong-sample check
        # above is what may not fail. How late stamps are under the load
        # is the bench's figure (bench/http_load.py), and the median below
        # this test's.
        if missed:
            log(f"cycles {missed} not published under the load (see the daemon's log)")
        check(len(missed) <= 2 * rounds,
              f"cycles {missed} not published under the load: more than 2 a round")
        q, f = summary(quiet), summary(loaded)
        log(f"stamp lateness (receive stamp - first byte written): quiet ({len(quiet)}): "
            f"median {q[0] / 1e3:.0f} us, p90 {q[1] / 1e3:.0f} us, max {q[2] / 1e3:.0f} us; "
            f"load ({len(loaded)}): median {f[0] / 1e3:.0f} us, p90 {f[1] / 1e3:.0f} us, "
            f"max {f[2] / 1e3:.0f} us")
        if cycles is not None:
            print("BENCH " + json.dumps({"quiet_ns": quiet, "load_ns": loaded,
                                         "metrics_s": metrics_s, "status_s": control_s,
                                         "failed_probes": failed_probes}),
                  flush=True)
        check(f[0] <= q[0] + 2_000_000,
              f"median stamp lateness under load {f[0] / 1e3:.0f} us > quiet "
              f"{q[0] / 1e3:.0f} us + 2 ms")

        daemon.stop()
        check(daemon.returncode == 0, f"the daemon exited with {daemon.returncode}")
        reports = fake_receiver.sanitizer_reports(daemon.output())
        check(not reports, f"sanitizer or crash output: {reports[:5]}")
    finally:
        watcher.stop()
        receiver.stop()


def socket_fds(pid):
    """How many sockets the process holds open (/proc/PID/fd)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed while listed
    return count


def lifetime_checks(port, daemon):
    """A slow client, then a client that pipelines 100 GET / and never
    reads, each alone: the slow one is closed at the lifetime, not before;
    the daemon lets go of the non-reader within the lifetime (MHD's idle
    timeout, 10 s, comes first once the socket takes no more; the client
    itself sees no end: the close is queued behind what it does not read).
    /metrics answers meanwhile."""
    harness.wait_until(lambda: socket_fds(daemon.pid) <= baseline_sockets or None, 60,
                       "the daemon to close the load's connections", watch=[daemon])
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    opened = time.monotonic()
    poller = select.poll()
    poller.register(slow, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    next_byte = opened + SLOW_PERIOD_S
    slow_end = None
    probed = False
    while slow_end is None and time.monotonic() < opened + LIFETIME_S + 20:
        check(daemon.running(), "the daemon died")
        if poller.poll(100):
            slow_end = time.monotonic() - opened
        elif time.monotonic() >= next_byte:
            next_byte += SLOW_PERIOD_S
            try:
                slow.send(b"a")
            except OSError:
                slow_end = time.monotonic() - opened
        if not probed and time.monotonic() - opened > 10:
            probed = True
            status, _, _ = request(port, "/metrics", timeout=5)
            check(status == 200, f"/metrics beside the slow client: {status}")
    slow.close()
    log(f"lifetime: the slow client was closed after {slow_end} s (lifetime {LIFETIME_S} s)")
    check(slow_end is not None and LIFETIME_S - 0.5 <= slow_end <= LIFETIME_S + 15,
          f"the slow client was closed after {slow_end} s, expected ~{LIFETIME_S} s")

    nonreader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    nonreader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    nonreader.connect(("127.0.0.1", port))
    nonreader.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
    opened = time.monotonic()
    harness.wait_until(lambda: socket_fds(daemon.pid) > baseline_sockets or None, 10,
                       "the daemon to accept the non-reader", watch=[daemon])
    harness.wait_until(lambda: socket_fds(daemon.pid) <= baseline_sockets or None,
                       LIFETIME_S + 15, "the daemon to let go of the non-reader",
                       watch=[daemon])
    took = time.monotonic() - opened
    log(f"the daemon let go of the non-reader after {took:.1f} s")
    check(took <= LIFETIME_S + 15, f"the non-reader was held {took:.1f} s")
    status, _, _ = request(port, "/metrics", timeout=5)
    check(status == 200, f"/metrics after the non-reader: {status}")
    nonreader.close()


baseline_sockets = 0


if __name__ == "__main__":
    bench_cycles = int(os.environ.get("SHMREFCLOCK_BENCH_CYCLES", "0"))
    bench_rounds = int(os.environ.get("SHMREFCLOCK_BENCH_ROUNDS", "1"))
    harness.main("http_load", body,
                 timeout=300 + 3 * bench_cycles * bench_rounds)
