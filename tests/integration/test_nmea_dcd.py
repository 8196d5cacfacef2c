#!/usr/bin/env python3
"""pps = "dcd" on an nmea refclock, on a port that cannot carry it.

A pty has no DCD line and this kernel may lack the pps_ldisc module, so
TIOCSETD N_PPS fails: the daemon must say why in one clear log line, keep
publishing the NMEA time, and keep the pps refclock that is locked to it
retrying ("no PPS device on gps's DCD line yet") without writing a sample.
Where the line discipline does attach (a kernel with pps_ldisc), the log
names the /dev/ppsN found under /sys/class/pps instead.
"""

import time

import fake_receiver
import harness
from fake_receiver import FakeReceiver, toml_string
from harness import check, log

NMEA_UNIT = 0
PPS_UNIT = 1


def body(ctx):
    receiver = FakeReceiver(ctx.tmp, "gnss0").start()
    try:
        # The default min-fixes (3): with 1, a machine stall that stamped
        # the first cycle 0.1 s late anchored the timeline there, and the
        # right cycles after it went on probation (CI, a CPU gone 101 ms).
        config = fake_receiver.daemon_config(ctx, [
            {"name": '"gps"', "source": '"nmea"',
             "device": toml_string(receiver.device), "unit": NMEA_UNIT,
             "pps": '"dcd"'},
            {"name": '"pps"', "source": '"pps"', "lock": '"gps"',
             "unit": PPS_UNIT}])
        proc = ctx.start("shmrefclock", [harness.daemon_binary(), "-c", config])
        # Three agreeing cycles, and three more if a stall breaks the run.
        first = harness.wait_for_valid_sample(NMEA_UNIT, 15, watch=[proc])
        second = harness.wait_for_valid_sample(NMEA_UNIT, 5, watch=[proc],
                                               newer_than=first)
        log(f"nmea samples keep coming with pps = \"dcd\": {second}")
        check(second.clock_nsec == 0, f"reference not on a second: {second}")
        time.sleep(1.5)
        check(proc.running(), "daemon exited")
        out = proc.output()
        attached = [l for l in out.splitlines() if "PPS line discipline attached" in l]
        refused = [l for l in out.splitlines() if "PPS on DCD:" in l]
        if attached:
            log(f"line discipline attached here: {attached[0]}")
        else:
            check(refused, "neither an attached PPS device nor a reason in the log")
            check("TIOCSETD" in refused[0], f"the reason does not name TIOCSETD: {refused[0]}")
            log(f"refused, as expected on a pty: {refused[0]}")
            check("no PPS device on gps's DCD line yet" in out,
                  "the pps refclock does not say it waits for the DCD device")
            info = harness.segment_info(PPS_UNIT)
            if info is not None:
                with harness.ShmReader(PPS_UNIT) as reader:
                    check(reader.read().valid == 0, "a pps sample without a PPS device")
            log("pps unit: no sample, as there is no pulse source")
    finally:
        receiver.stop()


if __name__ == "__main__":
    harness.main("nmea_dcd", body, timeout=50)
