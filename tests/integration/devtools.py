"""Headless Chromium driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: Chromium reads commands on its fd 3 and writes
replies and events on its fd 4, JSON messages each ended by a NUL byte).
Standard library only.

The tests use it to lay a page out at a given viewport and ask the layout
where its elements are (Runtime.evaluate of getBoundingClientRect): what a
screenshot shows, as numbers a test can check. The script runs in DevTools'
context; the page itself needs none.
"""

import base64
import fcntl
import json
import os
import subprocess
import time

from harness import Fail, log


def _high(fd):
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    def __init__(self, chromium, profile, log_path, extra=()):
        # Above 9, so that the shell's redirections to 3 and 4 overwrite
        # none of them.
        to_chromium_r, self._to_chromium = (_high(fd) for fd in os.pipe())
        self._from_chromium, from_chromium_w = (_high(fd) for fd in os.pipe())
        self._log = open(log_path, "ab")
        # bash puts the pipes on fds 3 and 4 (no preexec_fn: the test
        # has threads).
        script = (f'exec "$0" "$@" 3<&{to_chromium_r} 4>&{from_chromium_w} '
                  f'{to_chromium_r}<&- {from_chromium_w}>&-')
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script, chromium, "--headless", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--hide-scrollbars", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--remote-debugging-pipe",
             *extra, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            pass_fds=(to_chromium_r, from_chromium_w))
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        self.session = None

    def _receive(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise Fail("Chromium's DevTools pipe: no reply in time")
            data = os.read(self._from_chromium, 65536)
            if not data:
                raise Fail(f"Chromium closed its DevTools pipe (exit "
                           f"{self.proc.poll()})")
            self._buffer += data
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, timeout=30, session=True, **params):
        """A command's result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise Fail(f"DevTools {method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event.get("params", {})
            self.events.append(self._receive(deadline))

    def open_page(self):
        target = self.send("Target.createTarget", url="about:blank")
        attached = self.send("Target.attachToTarget", flatten=True,
                             targetId=target["targetId"])
        self.session = attached["sessionId"]
        self.send("Page.enable")

    def load(self, url, width, height, mobile):
        """The page laid out in a width x height viewport (a phone's with
        `mobile`: the viewport meta tag applies)."""
        self.send("Emulation.setDeviceMetricsOverride", width=width,
                  height=height, deviceScaleFactor=1, mobile=mobile)
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise Fail(f"Runtime.evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        log(f"screenshot: {path}")

    def close(self):
        try:
            if self.proc.poll() is None:
                self.session = None
                try:
                    self.send("Browser.close", timeout=10, session=False)
                except (Fail, OSError):
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            os.close(self._to_chromium)
            os.close(self._from_chromium)
            self._log.close()
