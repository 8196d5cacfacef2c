// Opening what an nmea refclock reads: a serial port (raw, exclusive, low
// latency where the driver allows) or a TCP receiver (`tcp://HOST:PORT`, a
// networked receiver or ser2net).
#pragma once

#include <stdexcept>
#include <string>

#include "core/device_address.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

struct DeviceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct NmeaDevice {
    UniqueFd fd; // non-blocking
    // Bytes arrive at the configured baud rate (a UART, also behind a USB
    // bridge), so the bytes already queued tell how long ago the first one
    // arrived. Not so for a pty, USB CDC-ACM or TCP: their writer or the
    // USB/IP stack delivers bursts, and correcting by the line rate would
    // move the stamp too early.
    bool line_rate = false;
    bool is_tty = false;     // not TCP
    std::string description; // for logs: "serial 9600 baud", "pty", "tcp 127.0.0.1:2947"
};

// Throws DeviceError with a message naming the device and the failing step.
NmeaDevice open_nmea_device(const std::string& device, int baud);

} // namespace shmrefclock
