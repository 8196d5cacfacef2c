// Opening what an nmea refclock reads: a serial port (raw, exclusive, low
// latency where the driver allows) or a TCP receiver (`tcp://HOST:PORT`, a
// networked receiver or ser2net). A TCP receiver is opened in steps that
// never block the loop (sources/nmea.cpp drives them): resolve the name
// (io/resolver.hpp), start the connect, and take the socket once it is
// writable.
#pragma once

#include <stdexcept>
#include <string>

#include <netdb.h>

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

// Open a serial port. Throws DeviceError with a message naming the device
// and the failing step.
NmeaDevice open_serial_device(const std::string& device, int baud);

// A TCP receiver (docs/design.md, "TCP receivers"): how long it may send
// nothing before the connection is closed and opened again with the usual
// back-off. A receiver sends a cycle every second, and the sample is stale
// after 2 s anyway: 5 s of silence is a peer that stopped sending but keeps
// the connection open, or accepted and never sent (issue 8, case 7). The
// same bound applies to a connect() that neither completes nor fails.
inline constexpr int tcp_silence_s = 5;
// TCP keepalive: probes after 5 s idle, every 1 s, 3 unanswered ones end the
// connection, so that a peer that vanished (powered off, cable pulled)
// is noticed by the kernel even while no read is pending.
inline constexpr int tcp_keepalive_idle_s = 5;
inline constexpr int tcp_keepalive_interval_s = 1;
inline constexpr int tcp_keepalive_count = 3;

// Start a non-blocking connect to `address` with keepalive on; the socket
// becomes writable when it completes or fails (tcp_connect_result). Throws
// DeviceError naming `device`.
NmeaDevice start_tcp_connect(const std::string& device, const addrinfo& address,
                             const std::string& description);
// After the socket became writable: "" if connected, else why not.
std::string tcp_connect_result(int fd);

} // namespace shmrefclock
