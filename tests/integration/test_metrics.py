#!/usr/bin/python3
"""[daemon] metrics: /metrics in the Prometheus text exposition, scraped by
a real Prometheus server; the listener's cost in memory and CPU.

One daemon with a system refclock (unit 2) and an nmea refclock (unit 0)
fed by a fake receiver on a pty, its listener on a free port:

- GET /metrics: 200, Content-Type text/plain; version=0.0.4, and `promtool
  check metrics` (Debian's prometheus) accepts it without a remark;
- the samples_published counter of each refclock grows between two
  scrapes by about the seconds between them (both refclocks publish once a
  second, as configured), and the nmea refclock's clock - receive gauge is
  within 50 ms of 0 (the fake receiver starts each cycle at its second,
  offset 0);
- HEAD: 200 without a body; POST, PUT, DELETE: 405 with Allow; an unknown
  path: 404;
- a Prometheus server (its own temp dir, scrape interval 1 s, a free port)
  scrapes the daemon: `up` is 1 and a query for
  shmrefclock_samples_published_total through its HTTP API answers with a
  value that grows.

A metrics address that is not IPV4:PORT: --check-config exits 1 naming
FILE:LINE:COLUMN; a port already in use: the daemon exits 3 at start-up
with one message naming the address.

Then two daemons side by side with the same system refclock, one with the
listener and one without: voluntary context switches (wake-ups) over 6 s idle (nobody
connected, after a few scrapes: the connection timeout timer must not be
left running) differ by at most 3, and peak RSS (VmHWM) after a few
scrapes of /metrics and / differs by less than 0.5 MB (reported; not
asserted under the sanitizers, whose allocator keeps freed memory in
quarantine).
"""

import json
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import fake_receiver
import harness
from fake_receiver import NS, FakeReceiver, toml_string
from harness import Fail, check, log
from http_util import (config, context_switches, free_port, metric, need,
                       request, status_field, system_refclock, wait_listening)


def nmea_refclock(name, receiver, unit):
    return {"name": toml_string(name), "source": '"nmea"',
            "device": toml_string(receiver.device), "baud": 9600,
            "unit": unit, "offset": "0.0", "min-fixes": 1}


def scrape(port):
    status, headers, body = request(port, "/metrics")
    check(status == 200, f"GET /metrics: {status}")
    ctype = headers.get("content-type", "")
    check(ctype.startswith("text/plain; version=0.0.4"),
          f"GET /metrics: Content-Type {ctype!r}")
    return body.decode()


def outcomes(text, refclock):
    """{outcome: count} of shmrefclock_cycles_total for `refclock`."""
    found = {}
    for line in text.splitlines():
        match = re.match(r'shmrefclock_cycles_total\{(.*)\} (\S+)$', line)
        if match and f'refclock="{refclock}"' in match.group(1):
            outcome = re.search(r'outcome="([^"]*)"', match.group(1))
            if outcome:
                found[outcome.group(1)] = float(match.group(2))
    return found


def exposition(ctx, port, promtool, receiver):
    first_at = time.monotonic()
    first_at_ns = time.time_ns()
    text = scrape(port)
    ctx.write("metrics.txt", text)
    done = subprocess.run([promtool, "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=30)
    log(f"promtool check metrics: exit {done.returncode} "
        f"{(done.stdout + done.stderr).strip()!r}")
    check(done.returncode == 0 and not (done.stdout + done.stderr).strip(),
          f"promtool check metrics refused the exposition: "
          f"{done.stdout}{done.stderr}")
    first = {name: metric(text, "shmrefclock_samples_published_total",
                          refclock=name) for name in ("sys", "gps")}
    check(all(v is not None for v in first.values()),
          f"no shmrefclock_samples_published_total for each refclock:\n{text}")
    before = outcomes(text, "gps")
    written_from = len(receiver.cycles)
    time.sleep(4)
    text = scrape(port)
    elapsed = time.monotonic() - first_at
    # What the receiver wrote and what became of it, before any verdict: a
    # counter that did not grow is explained here (CI once saw gps stay at
    # 1 for 4.3 s in the sanitizer build, with no other clue).
    changed = {k: v - before.get(k, 0) for k, v in outcomes(text, "gps").items()
               if v != before.get(k, 0)}
    log(f"gps: cycle outcomes between the scrapes: {changed}")
    for record in receiver.cycles[written_from:]:
        log(f"gps: receiver wrote second {record.reported} "
            f"(truthful {record.truthful}), first byte "
            f"{(record.first_write_ns % 1_000_000_000) / 1e6:.1f} ms into its "
            f"second, worst byte {record.max_late_ns / 1e6:.1f} ms late, "
            f"{record.dropped} dropped")
    for name in ("sys", "gps"):
        now = metric(text, "shmrefclock_samples_published_total",
                     refclock=name)
        grown = now - first[name]
        log(f"{name}: samples_published_total {first[name]:.0f} -> "
            f"{now:.0f} in {elapsed:.1f} s")
        check(abs(grown - elapsed) <= 2,
              f"{name}: the counter grew by {grown} in {elapsed:.1f} s, one "
              "sample a second was configured")
    offset = metric(text, "shmrefclock_last_sample_offset_seconds",
                    refclock="gps")
    # The last sample is stamped at its cycle's first byte, which is as late
    # as the fake wrote it (held up under CI's load: seen 47 ms into its
    # second) or as the daemon's loop waited for a CPU; never a second off.
    recent = receiver.cycles[max(written_from - 1, 0):]
    late = max([(r.first_written_ns - r.boundary * NS) / NS for r in recent]
               + [0.0])
    waited = harness.loop_wait(first_at_ns, time.time_ns()) / NS
    log(f"gps: last clock - receive {offset}; the fake wrote a first byte at "
        f"worst {late * 1e3:.1f} ms late, the daemon's loop waited "
        f"{waited * 1e3:.1f} ms at once for a CPU")
    check(offset is not None and abs(offset) < 0.05 + late + waited,
          f"gps: clock - receive {offset}, the receiver starts cycles at the "
          "second")
    check(metric(text, "shmrefclock_last_sample_valid", refclock="gps") == 1,
          "gps: last_sample_valid is not 1")
    check(metric(text, "shmrefclock_build_info") == 1, "no build_info")


def methods(port):
    status, _, body = request(port, "/metrics", method="HEAD")
    check(status == 200 and body == b"", f"HEAD /metrics: {status} {body!r}")
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = request(port, "/metrics", method=method,
                                     body=b"x=1")
        check(status == 405 and "GET" in headers.get("allow", ""),
              f"{method} /metrics: {status}, Allow {headers.get('allow')}")
    for path in ("/nope", "/metrics/", "/index.html", "/%00"):
        status, _, _ = request(port, path)
        check(status == 404, f"GET {path}: {status}, expected 404")
    log("HEAD 200 without a body; POST/PUT/DELETE 405; unknown paths 404")


def prometheus_query(port, query):
    url = (f"http://127.0.0.1:{port}/api/v1/query?"
           + urllib.parse.urlencode({"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.load(response)
    except OSError:
        return None
    if answer.get("status") != "success" or not answer["data"]["result"]:
        return None
    return float(answer["data"]["result"][0]["value"][1])


def prometheus(ctx, daemon, port, binary):
    prom_port = free_port()
    data = ctx.path("prometheus-data")
    settings = ctx.write("prometheus.yml", (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: shmrefclock\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"))
    server = ctx.start("prometheus", [
        binary, f"--config.file={settings}", f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
    query = 'shmrefclock_samples_published_total{refclock="sys"}'
    up = harness.wait_until(
        lambda: prometheus_query(prom_port, 'up{job="shmrefclock"}'), 40,
        "Prometheus to scrape the daemon", interval=0.5,
        watch=[server, daemon])
    check(up == 1, f"Prometheus: up = {up}")
    first = harness.wait_until(lambda: prometheus_query(prom_port, query), 20,
                               f"Prometheus to answer {query}", interval=0.5,
                               watch=[server, daemon])
    later = harness.wait_until(
        lambda: (v := prometheus_query(prom_port, query)) and v >= first + 2
        and v, 20, f"{query} to grow past {first + 2}", interval=0.5,
        watch=[server, daemon])
    direct = metric(scrape(port), "shmrefclock_samples_published_total",
                    refclock="sys")
    log(f"Prometheus on port {prom_port}: up 1, {query} = {first:.0f} then "
        f"{later:.0f}; the daemon says {direct:.0f} now")
    check(abs(direct - later) <= 3, f"Prometheus has {later}, the daemon "
          f"{direct}")
    server.stop()


def costs(ctx):
    """Peak RSS and idle wake-ups, listener on against off."""
    sanitized = "libasan" in subprocess.run(
        ["ldd", str(harness.daemon_binary())], capture_output=True,
        text=True, timeout=20).stdout
    port = free_port()
    off = ctx.start("daemon-off", [harness.daemon_binary(), "-c", config(
        ctx, None, [system_refclock("sys", 3)], name="off")])
    on = ctx.start("daemon-on", [harness.daemon_binary(), "-c", config(
        ctx, port, [system_refclock("sys", 4)], name="on")])
    harness.wait_for_valid_sample(3, 10, watch=[off])
    harness.wait_for_valid_sample(4, 10, watch=[on])
    wait_listening(port, on)
    for _ in range(5):
        scrape(port)
        status, _, _ = request(port, "/")
        check(status == 200, f"GET /: {status}")
    time.sleep(1)
    before = {p: context_switches(p.pid) for p in (off, on)}
    time.sleep(6)
    after = {p: context_switches(p.pid) for p in (off, on)}
    woke = {p.name: after[p] - before[p] for p in (off, on)}
    log(f"idle 6 s, context switches: listener off {woke['daemon-off']}, "
        f"on {woke['daemon-on']} (nobody connected)")
    check(woke["daemon-on"] - woke["daemon-off"] <= 3,
          f"the idle listener wakes the daemon: {woke}")
    hwm = {p.name: status_field(p.pid, "VmHWM") for p in (off, on)}
    diff = hwm["daemon-on"] - hwm["daemon-off"]
    log(f"peak RSS (VmHWM): listener off {hwm['daemon-off']} kB, on (5 "
        f"scrapes of /metrics and /) {hwm['daemon-on']} kB: {diff:+d} kB"
        f"{' (sanitizer build: not asserted)' if sanitized else ''}")
    if not sanitized:
        check(diff < 512, f"the listener costs {diff} kB of peak RSS")
    for proc in (off, on):
        proc.stop()


def refusals(ctx):
    """A bad address is a configuration error naming FILE:LINE (exit 1); an
    address already in use stops the daemon at start-up (exit 3) with one
    message naming it."""
    bad = ctx.write("bad.conf", '[daemon]\nmetrics = "localhost:9463"\n'
                    '[[refclock]]\nname = "s"\nsource = "system"\nunit = 5\n')
    done = ctx.run("check-config", [harness.daemon_binary(), "-c", bad,
                                    "--check-config"], timeout=20)
    out = done.stdout + done.stderr
    check(done.returncode == 1 and f"{bad}:2:11:" in out and
          "localhost" in out, f"--check-config with a bad metrics: exit "
          f"{done.returncode}: {out}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = ctx.run("in-use", [harness.daemon_binary(), "-c", config(
            ctx, port, [system_refclock("sys", 5)], name="in-use")],
            timeout=20)
    out = done.stdout + done.stderr
    log(f"port in use: exit {done.returncode}: "
        f"{[l for l in out.splitlines() if 'metrics' in l]}")
    check(done.returncode == 3 and
          f"cannot listen on 127.0.0.1:{port}: bind: Address already in use"
          in out, f"a port in use: exit {done.returncode}: {out}")


def reload(ctx):
    """SIGHUP with another port moves the listener; without the key, it
    closes; the refclock keeps publishing throughout."""
    first, second = free_port(), free_port()
    path = config(ctx, first, [system_refclock("sys", 6)], name="reload")
    daemon = ctx.start("daemon-reload", [harness.daemon_binary(), "-c", path])
    wait_listening(first, daemon)
    config(ctx, second, [system_refclock("sys", 6)], name="reload")
    daemon.popen.send_signal(signal.SIGHUP)
    wait_listening(second, daemon)
    check(scrape(second) and _refused(first),
          f"after SIGHUP: port {first} still open, or {second} not answering")
    config(ctx, None, [system_refclock("sys", 6)], name="reload")
    daemon.popen.send_signal(signal.SIGHUP)
    harness.wait_until(lambda: _refused(second), 10,
                       f"port {second} to close after SIGHUP", watch=[daemon])
    harness.wait_for_valid_sample(6, 5, watch=[daemon])
    log(f"SIGHUP: listener moved from {first} to {second}, then closed")
    daemon.stop()


def _refused(port):
    """True once nothing listens on the port. A connection that the
    listener's close resets, or that times out on a loaded machine, says
    nothing yet: asked again (CI saw a reset while the listener closed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except (ConnectionResetError, socket.timeout):
        return False


def body(ctx):
    refusals(ctx)
    reload(ctx)
    promtool = need("promtool", "prometheus")
    prometheus_binary = need("prometheus", "prometheus")
    port = free_port()
    receiver = FakeReceiver(ctx.tmp, "gnss0").start()
    try:
        daemon = ctx.start("shmrefclock", [harness.daemon_binary(), "-c", config(
            ctx, port, [system_refclock("sys", 2),
                        nmea_refclock("gps", receiver, 0)])])
        wait_listening(port, daemon)
        harness.wait_for_valid_sample(2, 10, watch=[daemon])
        harness.wait_for_valid_sample(0, 10, watch=[daemon])
        exposition(ctx, port, promtool, receiver)
        methods(port)
        prometheus(ctx, daemon, port, prometheus_binary)
        check(daemon.running(), "the daemon exited")
        daemon.stop()
        check(daemon.returncode == 0,
              f"the daemon exited with {daemon.returncode} on SIGTERM")
        reports = fake_receiver.sanitizer_reports(daemon.output())
        check(not reports, f"sanitizer or crash output: {reports[:5]}")
    finally:
        receiver.stop()
    costs(ctx)


if __name__ == "__main__":
    harness.main("metrics", body, timeout=150)
