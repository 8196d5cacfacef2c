#!/usr/bin/python3
"""Feed SHM unit 2 the system time minus one second, once a second: the NTP
daemon must then find the system clock 1.000 s fast (python-ntpdshm's "off
by one second" example, with int nanoseconds and the mode-1 protocol)."""
import signal
import sys
import time

import shmrefclock

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `with` cleans up
with shmrefclock.Writer(unit=2) as shm:  # leaving it clears `valid`
    while True:
        receive_ns = time.time_ns()
        shm.write(receive_ns - 1_000_000_000, receive_ns, precision=-20)
        time.sleep(1.0)
