#!/usr/bin/env python3
"""Serve the integration tests' fake NMEA receiver on tcp://127.0.0.1:PORT
until killed, for the system test (tests/system/systemd-container.sh): the
container shares this machine's network, so the daemon inside it reaches the
receiver through its sandbox's loopback. Prints the device on one line."""
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from fake_receiver import FakeReceiver  # noqa: E402

with tempfile.TemporaryDirectory() as directory:
    receiver = FakeReceiver(directory, tcp=True, paced=False)
    receiver.start()
    print(receiver.device, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    receiver.stop()
