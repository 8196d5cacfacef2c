#!/usr/bin/python3
"""The status page at / from a running daemon, in headless Chromium.

A daemon with an nmea refclock "gps.1" (unit 0) fed by a fake receiver
whose cycles start NMEA_DELAY after the second, a pps refclock "pps" (unit
1) on the PPS emulator (tests/pps-emulator) locked to it, so that the NMEA
latency is measured and an offset suggested, and a system refclock (unit
2); its configuration file named with HTML's special characters (the page
shows the path), its listener on a free port. Once all three publish and
the latency is measured:

- GET /: 200, text/html, a Content-Security-Policy; the path appears
  escaped and never as markup; `tidy -errors -q` (Debian's tidy) finds no
  error;
- Chromium, driven through the DevTools protocol (devtools.py), lays the
  page out at 1280 x 800 and at a phone's 390 x 844; a screenshot of each
  is kept in the build dir as a test artifact (paths logged);
- in document order, each refclock's health line (state, reason, age), its
  offset and the plot of it (an <svg>) come before its counters table; the
  health's reason is what /metrics says (shmrefclock_refclock_info's
  label); gps.1 shows the suggested offset;
- every counter row has a readable name (no snake_case) and its metric
  beside it, and every shmrefclock_*_total series /metrics has for the
  refclock is on the page;
- at 1280 x 800 every refclock's health line, offset and plot are inside the
  viewport without scrolling (getBoundingClientRect, asked of the layout
  through DevTools: the page has no script);
- at 390 x 844 nothing is wider than the screen (scrollWidth <= 390) and the
  plots take the screen's width;
- Chromium logs no console error or CSP violation (--enable-logging=stderr).

Every check runs and each failure is logged before the test fails.
"""

import html.parser
import os
import pathlib
import re
import shutil
import subprocess

import devtools
import fake_receiver
import harness
from fake_receiver import FakeReceiver, toml_string
from harness import Fail, check, log
from http_util import (free_port, metric, need, request, system_refclock,
                       wait_listening)
from test_pps import emulator_env, emulator_library

# The page shows the configuration's path: a name HTML would read as markup.
CONFIG_NAME = "page <i>x<i> & 'q\" .conf"
NMEA_DELAY = 0.130
EDGE_NS = 20_000
REFCLOCKS = {"gps.1": 0, "pps": 1, "sys-clock": 2}
DESKTOP = (1280, 800)
PHONE = (390, 844)

# Asked of the page's layout through DevTools (Runtime.evaluate), never put
# into the page: each refclock's health, offset and plot, where they are.
LAYOUT = """(() => {
  const box = (e) => {
    if (!e) return null;
    const r = e.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            width: r.width, height: r.height};
  };
  const text = (e) => e ? e.textContent.trim() : null;
  return {
    ready: document.readyState,
    innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    scrollY: window.scrollY,
    scrollWidth: document.documentElement.scrollWidth,
    refclocks: [...document.querySelectorAll('section.refclock')].map(s => ({
      name: s.querySelector('h2') ?
            s.querySelector('h2').firstChild.textContent.trim() : null,
      state: text(s.querySelector('.health .state')),
      reason: text(s.querySelector('.health .reason')),
      age: text(s.querySelector('.health .age')),
      offset: text(s.querySelector('.offset')),
      suggested: text(s.querySelector('.suggested')),
      health_box: box(s.querySelector('.health')),
      offset_box: box(s.querySelector('.offset')),
      plot_box: box(s.querySelector('svg.history')),
    })),
    html: document.documentElement.outerHTML,
  };
})()"""


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


class Outline(html.parser.HTMLParser):
    """The DOM in document order: each refclock heading (<h2>'s text before
    its <small>), health line, offset, plot and counters table as
    (kind, refclock) events, and each counter row as (refclock, readable
    name, metric, count)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events = []
        self.rows = []
        self._refclock = None
        self._heading = None
        self._in_counters = False
        self._row = None
        self._cell = None
        self._in_metric = 0
        self._depth = {}

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "h2":
            self._heading = ""
        elif tag == "small" and self._heading is not None:
            self._refclock, self._heading = self._heading.strip(), None
        kind = {("p", "health"): "health", ("p", "offset"): "offset",
                ("svg", "history"): "plot",
                ("table", "counters"): "counters"}
        for name in classes:
            if (tag, name) in kind:
                self.events.append((kind[(tag, name)], self._refclock))
        if tag == "table" and "counters" in classes:
            self._in_counters = True
        if self._in_counters and tag == "tr":
            self._row = {"name": "", "metric": "", "count": "", "td": False}
        if self._row is not None and tag in ("th", "td"):
            self._cell = tag
            self._row["td"] |= tag == "td"
        if self._row is not None and tag == "code" and "metric" in classes:
            self._in_metric += 1

    def handle_endtag(self, tag):
        if tag == "h2" and self._heading is not None:
            self._refclock, self._heading = self._heading.strip(), None
        if tag == "code" and self._in_metric:
            self._in_metric -= 1
        if tag in ("th", "td"):
            self._cell = None
        if tag == "tr" and self._row is not None:
            if self._row["td"]:
                self.rows.append((self._refclock,
                                  " ".join(self._row["name"].split()),
                                  self._row["metric"].strip(),
                                  self._row["count"].strip()))
            self._row = None
        if tag == "table":
            self._in_counters = False

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._row is None:
            return
        if self._in_metric:
            self._row["metric"] += data
        elif self._cell == "th":
            self._row["name"] += data
        elif self._cell == "td":
            self._row["count"] += data


def counter_series(metrics, refclock):
    """Every shmrefclock_*_total series of the refclock in /metrics, as the
    page writes it: the name and its other labels, without `refclock`."""
    found = set()
    for line in metrics.splitlines():
        match = re.match(r'(shmrefclock_\w+_total)\{refclock="([^"]*)"'
                         r'(?:,(\w+)="([^"]*)")?\} \d+$', line)
        if match and match.group(2) == refclock:
            name, label, value = match.group(1), match.group(3), match.group(4)
            found.add(f'{name}{{{label}="{value}"}}' if label else name)
    return found


def structure_failures(dom, metrics):
    """The order of each refclock's parts and its counters' names."""
    failures = []
    outline = Outline()
    outline.feed(dom)
    for name in REFCLOCKS:
        first = {}
        for index, (kind, refclock) in enumerate(outline.events):
            if refclock == name:
                first.setdefault(kind, index)
        log(f"{name}: document order {sorted(first, key=first.get)}")
        for kind in ("health", "offset", "plot", "counters"):
            if kind not in first:
                failures.append(f"{name}: no {kind} in the DOM")
        if "counters" in first:
            late = [kind for kind in ("health", "offset", "plot")
                    if first.get(kind, len(outline.events)) > first["counters"]]
            if late:
                failures.append(f"{name}: {late} after the counters table")
        rows = [row for row in outline.rows if row[0] == name]
        shown = set()
        for _, readable, metric_name, count in rows:
            shown.add(metric_name)
            if (not re.fullmatch(r'shmrefclock_[a-z_]+_total'
                                 r'(\{[a-z]+="[a-z_]+"\})?', metric_name)
                    or "_" in readable or not readable
                    or not count.isdigit()):
                failures.append(f"{name}: counter row {readable!r} "
                                f"{metric_name!r} {count!r}: not a readable "
                                f"name with its metric beside it")
        missing = counter_series(metrics, name) - shown
        if not rows or missing:
            failures.append(f"{name}: {len(rows)} counter rows; series in "
                            f"/metrics not on the page: {sorted(missing)}")
        log(f"{name}: {len(rows)} counter rows, e.g. {rows[:2]}")
    return failures


def healths(port):
    """Each refclock's health and validity as /metrics says, and the text."""
    _, _, body = request(port, "/metrics")
    text = body.decode()
    found = {}
    for line in text.splitlines():
        match = re.match(r'shmrefclock_refclock_info\{refclock="([^"]*)",'
                         r'source="[^"]*",health="([^"]*)"\} 1$', line)
        if match:
            found[match.group(1)] = match.group(2)
    return found, text


def health_failures(layout, before, after):
    failures = []
    shown = {r["name"]: r for r in layout["refclocks"]}
    for name in REFCLOCKS:
        rc = shown.get(name)
        if rc is None:
            failures.append(f"no section.refclock for {name}")
            continue
        log(f"{name}: state {rc['state']!r}, reason {rc['reason']!r}, "
            f"age {rc['age']!r}, offset {rc['offset']!r}, suggested "
            f"{rc['suggested']!r}")
        if rc["state"] not in ("publishing", "not publishing"):
            failures.append(f"{name}: health state {rc['state']!r}")
        if rc["reason"] not in (before.get(name), after.get(name)):
            failures.append(f"{name}: health reason {rc['reason']!r}, "
                            f"/metrics says {before.get(name)!r} then "
                            f"{after.get(name)!r}")
        # Between a number and its unit the page has a narrow no-break
        # space (U+202F), which \s matches.
        age = r"last sample \d+\.\d\s?s ago" if rc["state"] == "publishing" \
            else r"no sample now"
        if not re.fullmatch(age, rc["age"] or ""):
            failures.append(f"{name}: health age {rc['age']!r}")
        # A refclock may stop publishing for a moment (a cycle refused on a
        # busy machine): then it has no offset to show, and says so.
        offset = r"[+-]?\d+\.\d{3}\s?ms" if rc["state"] == "publishing" \
            else r"none"
        if not re.search(offset + "$", rc["offset"] or ""):
            failures.append(f"{name}: offset {rc['offset']!r} while "
                            f"{rc['state']!r}")
    # The value itself is test_nmea_latency's; here: shown, and about the
    # receiver's delay (later on a busy machine, never earlier).
    suggested = (shown.get("gps.1") or {}).get("suggested") or ""
    value = re.search(r"offset = (\d+\.\d{3})", suggested)
    if not value or not NMEA_DELAY - 0.01 < float(value.group(1)) < 0.5:
        failures.append(f"gps.1: suggested offset {suggested!r}, expected "
                        f"about {NMEA_DELAY}")
    return failures


def geometry_failures(layout, size):
    """At `size`, with no scrolling: nothing wider than the viewport; at the
    desktop's size every health line, offset and plot inside it; at the
    phone's, the plots as wide as most of the screen."""
    width, height = size
    failures = []
    log(f"{width} x {height}: viewport {layout['innerWidth']} x "
        f"{layout['innerHeight']}, scrollWidth {layout['scrollWidth']}, "
        f"scrollY {layout['scrollY']}")
    if (layout["innerWidth"], layout["innerHeight"]) != size or \
            layout["scrollY"] != 0:
        failures.append(f"{width} x {height}: viewport "
                        f"{layout['innerWidth']} x {layout['innerHeight']} "
                        f"scrolled to {layout['scrollY']}")
    if layout["scrollWidth"] > width:
        failures.append(f"{width} x {height}: the page is "
                        f"{layout['scrollWidth']} px wide (scrolls sideways)")
    for rc in layout["refclocks"]:
        for part in ("health", "offset", "plot"):
            box = rc[f"{part}_box"]
            log(f"  {rc['name']} {part}: {box}")
            if box is None or box["width"] <= 0 or box["height"] <= 0:
                failures.append(f"{width} x {height}: {rc['name']} has no "
                                f"{part} shown")
                continue
            if box["left"] < 0 or box["right"] > width:
                failures.append(f"{width} x {height}: {rc['name']}'s {part} "
                                f"is outside the screen's width: {box}")
            if size == DESKTOP and (box["top"] < 0 or box["bottom"] > height):
                failures.append(f"{width} x {height}: {rc['name']}'s {part} "
                                f"is not visible without scrolling: bottom "
                                f"{box['bottom']:.0f} > {height}")
            if size == PHONE and part == "plot" and \
                    box["width"] < 0.8 * width:
                failures.append(f"{width} x {height}: {rc['name']}'s plot is "
                                f"{box['width']:.0f} px wide")
    return failures


def body(ctx):
    chromium = need("chromium", "chromium")
    tidy = need("tidy", "tidy")
    daemon_path = harness.daemon_binary()
    port = free_port()
    receiver = FakeReceiver(ctx.tmp, "gnss0", delay=NMEA_DELAY).start()
    browser = None
    try:
        text = (f'[daemon]\nlog-level = "info"\n'
                f'metrics = "127.0.0.1:{port}"\n')
        for table in (
                {"name": '"gps.1"', "source": '"nmea"',
                 "device": toml_string(receiver.device), "baud": 9600,
                 "unit": REFCLOCKS["gps.1"], "offset": "0.0",
                 "min-fixes": 1},
                {"name": '"pps"', "source": '"pps"',
                 "device": '"/dev/pps0"', "lock": '"gps.1"',
                 "unit": REFCLOCKS["pps"]},
                system_refclock("sys-clock", REFCLOCKS["sys-clock"])):
            text += "\n[[refclock]]\n" + "".join(
                f"{k} = {v}\n" for k, v in table.items())
        config = ctx.write(CONFIG_NAME, text)
        env = emulator_env(daemon_path, emulator_library(),
                           ctx.path("pps.trace"), offset_ns=EDGE_NS)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        daemon = ctx.start("shmrefclock", [daemon_path, "-c", config],
                           env=env)
        wait_listening(port, daemon)
        for unit in REFCLOCKS.values():
            harness.wait_for_valid_sample(unit, 20, watch=[daemon])
        harness.wait_until(
            lambda: metric(request(port, "/metrics")[2].decode(),
                           "shmrefclock_nmea_latency_suggested_offset_seconds",
                           refclock="gps.1") is not None,
            20, "gps.1's latency measured with pps", watch=[daemon])

        status, headers, page = request(port, "/")
        html_text = page.decode()
        ctx.write("page.html", html_text)
        check(status == 200, f"GET /: {status}")
        check(headers.get("content-type", "").startswith("text/html"),
              f"GET /: Content-Type {headers.get('content-type')}")
        check("default-src 'none'" in headers.get("content-security-policy",
                                                  ""), "no CSP")
        check("<i>" not in html_text,
              "the path's <i> reached the page as markup")
        check("page &lt;i&gt;x&lt;i&gt; &amp; &#39;q&quot; .conf" in html_text,
              "the configuration path is not in the page, escaped")
        check("<script" not in html_text, "the page has a script")
        done = subprocess.run([tidy, "-errors", "-q", ctx.path("page.html")],
                              capture_output=True, text=True, timeout=30)
        log(f"tidy -errors -q: exit {done.returncode} {done.stderr.strip()!r}")
        check(done.returncode in (0, 1) and "Error:" not in done.stderr,
              f"tidy finds errors in the page: {done.stderr}")

        url = f"http://127.0.0.1:{port}/"
        chromium_log = ctx.path("chromium.log")
        browser = devtools.Chromium(
            chromium, ctx.path("chromium-profile"), chromium_log,
            extra=[f"--window-size={DESKTOP[0]},{DESKTOP[1]}"])
        browser.open_page()
        artifacts = artifact_dir()
        artifacts.mkdir(parents=True, exist_ok=True)

        # The health can change with any cycle (a late stamp refused, issue
        # 18), and the page and /metrics are each rendered at most once a
        # second, at different moments: /metrics is read before and after
        # the page, and the page must show one of the two. Until it does,
        # the page is loaded again (at most 15 s); the last attempt's
        # failures are the test's.
        attempts = []

        def consistent():
            nonlocal desktop, metrics, failures, before
            before, _ = healths(port)
            browser.load(url, *DESKTOP, mobile=False)
            desktop = browser.evaluate(LAYOUT)
            after, metrics = healths(port)
            failures = health_failures(desktop, before, after)
            attempts.append(failures[:1])
            return not failures

        desktop = metrics = failures = before = None
        try:
            harness.wait_until(consistent, 15, "the page and /metrics to "
                               "agree", interval=0.5, watch=[daemon])
        except Fail as why:
            if not str(why).startswith("timed out"):
                raise
            log(f"{why}")
        log(f"{len(attempts)} attempt(s): {attempts}")
        check(set(before) == set(REFCLOCKS),
              f"refclock_info for {sorted(before)}")
        browser.screenshot(artifacts / "status_page_1280x800.png")
        ctx.write("dom.html", desktop["html"])
        check("<i>" not in desktop["html"],
              "the path's <i> became an element")
        failures += structure_failures(desktop["html"], metrics)
        failures += geometry_failures(desktop, DESKTOP)

        browser.load(url, *PHONE, mobile=True)
        phone = browser.evaluate(LAYOUT)
        browser.screenshot(artifacts / "status_page_390x844.png")
        failures += geometry_failures(phone, PHONE)
        browser.close()
        browser = None
        errors = console_errors(chromium_log.read_text(errors="replace"), url)
        failures += [f"Chromium console: {line}" for line in errors]
        shutil.copy(ctx.path("page.html"), artifacts / "status_page.html")
        log(f"page: {artifacts / 'status_page.html'}; console errors: "
            f"{len(errors)}")

        check(daemon.running(), "the daemon exited")
        daemon.stop()
        check(daemon.returncode == 0,
              f"the daemon exited with {daemon.returncode} on SIGTERM")
        reports = fake_receiver.sanitizer_reports(daemon.output())
        check(not reports, f"sanitizer or crash output: {reports[:5]}")
    finally:
        if browser is not None:
            browser.close()
        receiver.stop()
    for failure in failures:
        log(f"FAIL: {failure}")
    if failures:
        raise Fail(f"{len(failures)} failure(s), first: {failures[0]}")


if __name__ == "__main__":
    harness.main("status_page", body, timeout=200)
