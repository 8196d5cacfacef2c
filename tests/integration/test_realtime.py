#!/usr/bin/python3
"""[daemon] sched-priority and lock-memory where they are allowed (issue 22;
the run as root: CAP_SYS_NICE and CAP_IPC_LOCK, as chronyd -P and -m have).

The daemon with `sched-priority = 10` and `lock-memory = true` publishes
its system refclock's samples; its main thread, the event loop, runs
SCHED_FIFO at priority 10 with SCHED_RESET_ON_FORK; once the control socket
has been asked (which starts the renderer thread), every other thread runs
at the normal policy; and its memory is locked (VmLck > 0). A reload to
`sched-priority = 0` and `lock-memory = false` puts it back. Where they are
not allowed (the hardened unit without its drop-in, a user without the
capability or limits) the container test checks the warning.
"""

import os
import signal
import socket

import harness
from harness import check, log
from http_util import status_field

UNIT = 2


def write(ctx, control, priority, lock):
    return ctx.write("realtime.conf", (
        "[daemon]\n"
        f'control = "{control}"\n'
        f"sched-priority = {priority}\n"
        f"lock-memory = {'true' if lock else 'false'}\n"
        "[[refclock]]\n"
        'name = "clock"\n'
        'source = "system"\n'
        f"unit = {UNIT}\n"))


def threads(pid):
    """{tid: (policy with its flags, priority)}."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(tid)] = (os.sched_getscheduler(int(tid)),
                               os.sched_getparam(int(tid)).sched_priority)
        except OSError:
            pass  # a thread that ended
    return found


def ask(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"status\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def body(ctx):
    if os.geteuid() != 0:
        raise harness.Fail("needs root (CAP_SYS_NICE, CAP_IPC_LOCK), as the suites run in CI")
    control = ctx.path("control")
    # Not under ASan: mlockall(MCL_CURRENT) as root would try to populate its
    # terabytes of shadow mappings. The plain suite checks the lock.
    lock = not harness.sanitized(harness.daemon_binary())
    config = write(ctx, control, 10, lock)
    proc, _ = ctx.start_daemon(config, UNIT)
    check(b'"pid"' in ask(control), "the control socket did not answer")
    fifo_reset = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
    seen = threads(proc.pid)
    log(f"threads (policy, priority): {seen}; VmLck {status_field(proc.pid, 'VmLck')} kB")
    check(seen.get(proc.pid) == (fifo_reset, 10),
          f"the event loop runs {seen.get(proc.pid)}, expected SCHED_FIFO|RESET_ON_FORK 10")
    others = {tid: p for tid, p in seen.items() if tid != proc.pid}
    check(others, "no renderer thread after a status request")
    check(all(p == (os.SCHED_OTHER, 0) for p in others.values()),
          f"threads other than the loop not at the normal policy: {others}")
    if lock:
        check(status_field(proc.pid, "VmLck") > 0, "lock-memory = true: nothing locked (VmLck 0)")
    else:
        log("the sanitizer build: lock-memory not tried (ASan's shadow memory)")
    harness.wait_until(lambda: "sched-priority = 10: the event loop runs SCHED_FIFO at "
                       "priority 10" in proc.output(), 10, "the log line", watch=[proc])

    write(ctx, control, 0, False)
    proc.popen.send_signal(signal.SIGHUP)
    harness.wait_until(lambda: "reloaded" in proc.output(), 10, "the reload", watch=[proc])
    seen = threads(proc.pid)
    log(f"after the reload: {seen}; VmLck {status_field(proc.pid, 'VmLck')} kB")
    check(seen.get(proc.pid) == (os.SCHED_OTHER, 0),
          f"after sched-priority = 0 the loop runs {seen.get(proc.pid)}")
    check(status_field(proc.pid, "VmLck") == 0, "after lock-memory = false memory is still locked")
    harness.wait_for_valid_sample(UNIT, 10, watch=[proc])


if __name__ == "__main__":
    harness.main("realtime", body, timeout=60)
