"""Helpers for the tests of the HTTP listener ([daemon] metrics): a free
port, plain HTTP requests, and the rule that a missing tool fails the test
(tests/README.md: nothing is skipped for a missing tool)."""

import http.client
import os
import re
import socket

import harness
from harness import Fail


def need(program, package):
    """The path of a program; a missing one fails the test (not a skip)."""
    try:
        return harness.require_program(program, package)
    except harness.Skip as why:
        raise Fail(f"{why}: tests/install-deps.sh installs it") from None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, path, method="GET", timeout=10, body=None):
    """(status, headers dict with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        data = response.read()
        return (response.status,
                {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def config(ctx, port, refclocks, name="http", log_level="info"):
    """A config with [daemon] metrics on 127.0.0.1:PORT (None: off) and the
    given [[refclock]] tables (dicts of TOML text)."""
    text = f'[daemon]\nlog-level = "{log_level}"\n'
    if port is not None:
        text += f'metrics = "127.0.0.1:{port}"\n'
    for table in refclocks:
        text += "\n[[refclock]]\n"
        for key, value in table.items():
            text += f"{key} = {value}\n"
    return ctx.write(f"shmrefclock-{name}.conf", text)


def system_refclock(name, unit):
    return {"name": f'"{name}"', "source": '"system"', "unit": unit,
            "interval": "1.0"}


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def metric(text, name, **labels):
    """The value of the sample `name` whose labels include `labels`."""
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                              match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def status_field(pid, field):
    """A field of /proc/PID/status, as an int (kB for the Vm ones)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail(f"no {field} in /proc/{pid}/status")


def context_switches(pid):
    """The times the daemon's loop went to sleep: each wake-up ends in one.
    Involuntary switches are left out: they count the machine's load (a
    stress run gave the idle daemon 5 more of them), not the daemon's."""
    return status_field(pid, "voluntary_ctxt_switches")


def wait_listening(port, proc, timeout=10):
    def attempt():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return None
    harness.wait_until(attempt, timeout, f"the listener on port {port}",
                       watch=[proc])


__all__ = ["need", "free_port", "request", "config", "system_refclock",
           "metric", "status_field", "context_switches", "wait_listening",
           "os"]
