"""UBX frames a u-blox timing receiver sends each second, built from the
field layouts of u-blox's interface descriptions (M8, F9): for the fake
u-blox of test_ubx.py and the bench's UBX mode (bench/bench.py --ubx).
Checksums are computed here; times are UTC POSIX seconds."""

import struct
import time

GPS_EPOCH = 315964800  # 1980-01-06T00:00:00Z
WEEK = 604800
GPS_MINUS_UTC = 18


def frame(message_class, message_id, payload):
    """A UBX frame, its checksum computed here (u-blox: 8-bit Fletcher over
    class, id, length and payload)."""
    body = bytes([message_class, message_id]) + struct.pack("<H", len(payload)) + payload
    a = b = 0
    for byte in body:
        a = (a + byte) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes([a, b])


def itow_ms(second):
    """GPS time of week of UTC `second`, in ms."""
    return (second - GPS_EPOCH + GPS_MINUS_UTC) % WEEK * 1000


def tim_tp(pulse, q_err_ps, locked=True):
    """TIM-TP (0x0D 0x01) for the pulse of UTC second `pulse`: towMS,
    towSubMS, qErr, week, flags (UTC time base 0x01, UTC available 0x02,
    RAIM active 2 << 2, TpNotLocked 0x20 unless `locked`), refInfo (GPS)."""
    since = pulse - GPS_EPOCH
    flags = 0x0B | (0 if locked else 0x20)
    return frame(0x0D, 0x01, struct.pack("<IIiHBB", since % WEEK * 1000, 0,
                                         q_err_ps, since // WEEK, flags, 0x00))


def nav_timeutc(second, valid_utc, t_acc_ns):
    """NAV-TIMEUTC (0x01 0x21): iTOW, tAcc, nano, year .. sec, valid
    (validTOW, validWKN, and validUTC if `valid_utc`)."""
    t = time.gmtime(second)
    valid = 0x07 if valid_utc else 0x03
    return frame(0x01, 0x21, struct.pack(
        "<IIiHBBBBBB", itow_ms(second), t_acc_ns, 321_000, t.tm_year,
        t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, valid))


def nav_timegps(second, t_acc_ns):
    """NAV-TIMEGPS (0x01 0x20): iTOW, fTOW, week, leapS, valid (TOW, week
    and leapS valid), tAcc."""
    since = second - GPS_EPOCH + GPS_MINUS_UTC
    return frame(0x01, 0x20, struct.pack(
        "<IihbBI", itow_ms(second), 0, since // WEEK, GPS_MINUS_UTC, 0x07,
        t_acc_ns))


def nav_pvt(second, t_acc_ns):
    """NAV-PVT (0x01 0x07, 92 bytes): a 3D fix (gnssFixOK) with date and
    time valid and fully resolved; position and velocity fields zero."""
    t = time.gmtime(second)
    payload = bytearray(92)
    struct.pack_into("<IHBBBBBBIiBBB", payload, 0, itow_ms(second),
                     t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                     t.tm_sec, 0x07, t_acc_ns, 0, 3, 0x01, 0xE0)
    payload[23] = 12  # numSV
    return frame(0x01, 0x07, bytes(payload))


def nav_sat(second, satellites):
    """NAV-SAT (0x01 0x35): 8 bytes, then 12 per satellite (not decoded by
    the daemon: it only counts the frame)."""
    payload = struct.pack("<IBB2x", itow_ms(second), 1, satellites)
    for sv in range(satellites):
        payload += struct.pack("<BBbbhhI", 0, sv + 1, 40, 45, 180, 0, 0x1F)
    return frame(0x01, 0x35, payload)
