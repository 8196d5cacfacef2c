#!/usr/bin/python3
"""The status page at / from a running daemon, in headless Chromium.

A daemon with a system refclock (unit 2) and an nmea refclock (unit 0)
fed by a fake receiver, its configuration file named with HTML's special
characters (the page shows the path), its listener on a free port:

- GET /: 200, text/html, a Content-Security-Policy; the path appears
  escaped and never as markup; `tidy -errors -q` (Debian's tidy) finds no
  error;
- Chromium (--headless --dump-dom) shows both refclock names, each one's
  health as the daemon's snapshot reports it through /metrics
  (shmrefclock_refclock_info's label), and an <svg>; the injected <i> in the
  path is text, not an element;
- Chromium logs no console error or CSP violation (--enable-logging=stderr);
- a screenshot (390 x 1400, a phone's width) is kept in the build dir as a
  test artifact; its path is logged.
"""

import os
import pathlib
import re
import shutil
import subprocess

import fake_receiver
import harness
from fake_receiver import FakeReceiver, toml_string
from harness import check, log
from http_util import (free_port, metric, need, request, system_refclock,
                       wait_listening)

# The page shows the configuration's path: a name HTML would read as markup.
CONFIG_NAME = "page <i>x<i> & 'q\" .conf"


def chromium_run(ctx, chromium, url, *extra):
    profile = ctx.path("chromium-profile")
    return ctx.run("chromium", [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", *extra, url], timeout=90)


def console_errors(text, url):
    """Chromium's console lines for the page (--enable-logging=stderr logs
    each as ...:CONSOLE:LINE] "message", source: URL, at INFO whatever its
    level): the page has no script, so any console message at all from it
    (a CSP violation, a failed load) counts. Chromium's own chrome:// pages
    log too ("Slow network is detected" without a network): not ours."""
    return [line for line in text.splitlines()
            if ":CONSOLE" in line and f"source: {url}" in line]


def artifact_dir():
    build = os.environ.get("MESON_BUILD_ROOT")
    if build:
        return pathlib.Path(build) / "tests" / "artifacts"
    return pathlib.Path(harness.daemon_binary()).resolve().parent.parent / \
        "tests" / "artifacts"


def body(ctx):
    chromium = need("chromium", "chromium")
    tidy = need("tidy", "tidy")
    port = free_port()
    receiver = FakeReceiver(ctx.tmp, "gnss0").start()
    try:
        text = (f'[daemon]\nlog-level = "info"\n'
                f'metrics = "127.0.0.1:{port}"\n')
        for table in (system_refclock("sys-clock", 2),
                      {"name": '"gps.1"', "source": '"nmea"',
                       "device": toml_string(receiver.device), "baud": 9600,
                       "unit": 0, "offset": "0.0", "min-fixes": 1}):
            text += "\n[[refclock]]\n" + "".join(
                f"{k} = {v}\n" for k, v in table.items())
        config = ctx.write(CONFIG_NAME, text)
        daemon = ctx.start("shmrefclock",
                           [harness.daemon_binary(), "-c", config])
        wait_listening(port, daemon)
        harness.wait_for_valid_sample(2, 10, watch=[daemon])
        harness.wait_for_valid_sample(0, 10, watch=[daemon])

        status, headers, page = request(port, "/")
        html = page.decode()
        ctx.write("page.html", html)
        check(status == 200, f"GET /: {status}")
        check(headers.get("content-type", "").startswith("text/html"),
              f"GET /: Content-Type {headers.get('content-type')}")
        check("default-src 'none'" in headers.get("content-security-policy",
                                                  ""), "no CSP")
        check("<i>" not in html, "the path's <i> reached the page as markup")
        check("page &lt;i&gt;x&lt;i&gt; &amp; &#39;q&quot; .conf" in html,
              "the configuration path is not in the page, escaped")
        done = subprocess.run([tidy, "-errors", "-q", ctx.path("page.html")],
                              capture_output=True, text=True, timeout=30)
        log(f"tidy -errors -q: exit {done.returncode} {done.stderr.strip()!r}")
        check(done.returncode in (0, 1) and "Error:" not in done.stderr,
              f"tidy finds errors in the page: {done.stderr}")

        # What the daemon says about each refclock's health, from /metrics,
        # must be what Chromium shows. The health can change with any cycle
        # (a late stamp refused, issue 18), and the page and /metrics are
        # rendered at most once a second each: the two are compared until
        # they show the same moment, a few times at most, and /metrics is
        # read again after the page so that a change in between is seen.
        url = f"http://127.0.0.1:{port}/"

        def healths():
            _, _, metrics = request(port, "/metrics")
            found = {}
            for line in metrics.decode().splitlines():
                match = re.match(r'shmrefclock_refclock_info\{refclock="([^"]*)",'
                                 r'source="[^"]*",health="([^"]*)"\} 1$', line)
                if match:
                    found[match.group(1)] = match.group(2)
            return found, metrics.decode()

        for attempt in range(1, 6):
            health, metrics = healths()
            check(set(health) == {"sys-clock", "gps.1"},
                  f"refclock_info for {sorted(health)}")
            check(metric(metrics, "shmrefclock_last_sample_valid",
                         refclock="gps.1") == 1, "gps.1 has no sample")
            dom = chromium_run(ctx, chromium, url, "--dump-dom")
            check(dom.returncode == 0, f"chromium --dump-dom: exit "
                  f"{dom.returncode}: {dom.stderr[-2000:]}")
            after, _ = healths()
            missing = [name for name in health
                       if health[name] not in dom.stdout and
                       after.get(name) not in dom.stdout]
            if not missing:
                break
            log(f"attempt {attempt}: the health changed while Chromium read "
                f"the page ({health} -> {after}); again")
        ctx.write("dom.html", dom.stdout)
        for name in ("sys-clock", "gps.1"):
            check(f">{name} <small>" in dom.stdout,
                  f"Chromium's DOM has no heading for {name}")
            check(health[name] in dom.stdout or after.get(name) in dom.stdout,
                  f"Chromium's DOM lacks {name}'s health {health[name]!r} "
                  f"(and {after.get(name)!r} read after it)")
        check("<svg" in dom.stdout, "Chromium's DOM has no <svg>")
        check("<i>" not in dom.stdout, "the path's <i> became an element")
        errors = console_errors(dom.stderr, url)

        artifacts = artifact_dir()
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifacts / "status_page.png"
        done = chromium_run(ctx, chromium, url, f"--screenshot={shot}",
                            "--window-size=390,1400",
                            "--hide-scrollbars")
        check(done.returncode == 0 and shot.is_file() and
              shot.stat().st_size > 1000,
              f"chromium --screenshot: exit {done.returncode}: "
              f"{done.stderr[-2000:]}")
        errors += console_errors(done.stderr, url)
        shutil.copy(ctx.path("page.html"), artifacts / "status_page.html")
        log(f"screenshot (390 x 1400): {shot}; page: "
            f"{artifacts / 'status_page.html'}")
        log(f"health: {health}; console errors: {len(errors)}")
        check(not errors, "Chromium console errors:\n  " + "\n  ".join(errors))

        check(daemon.running(), "the daemon exited")
        daemon.stop()
        check(daemon.returncode == 0,
              f"the daemon exited with {daemon.returncode} on SIGTERM")
        reports = fake_receiver.sanitizer_reports(daemon.output())
        check(not reports, f"sanitizer or crash output: {reports[:5]}")
    finally:
        receiver.stop()


if __name__ == "__main__":
    harness.main("status_page", body, timeout=200)
