#include "sources/nmea_device.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/serial.h>
#include <netdb.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shmrefclock {

namespace {

[[noreturn]] void fail(const std::string& device, const std::string& step) {
    throw DeviceError(fmt::format("{}: {}: {}", device, step, std::strerror(errno)));
}

speed_t speed_constant(int baud) {
    switch (baud) {
    case 4800:
        return B4800;
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 921600:
        return B921600;
    default:
        return B9600; // config.cpp admits only the values above
    }
}

// Linux device majors (Documentation/admin-guide/devices.txt) whose bytes
// do not come at a line rate.
bool is_burst_tty(unsigned major_number) {
    constexpr unsigned legacy_pty_slave = 3;
    constexpr unsigned unix98_pty_slave_first = 136, unix98_pty_slave_last = 143;
    constexpr unsigned usb_cdc_acm = 166;
    return major_number == legacy_pty_slave ||
           (major_number >= unix98_pty_slave_first && major_number <= unix98_pty_slave_last) ||
           major_number == usb_cdc_acm;
}

NmeaDevice open_serial(const std::string& device, int baud) {
    NmeaDevice result;
    result.fd.reset(::open(device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!result.fd.valid()) {
        fail(device, "open");
    }
    const int fd = result.fd.get();
    if (!isatty(fd)) {
        throw DeviceError(fmt::format("{}: not a terminal device (a serial port, or "
                                      "tcp://HOST:PORT for a network receiver)",
                                      device));
    }
    // Exclusive: a second reader (gpsd, another shmrefclock) would steal
    // bytes and break both. TIOCEXCL stops later opens by non-root; flock
    // also tells other lock-aware programs.
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            throw DeviceError(fmt::format("{}: in use by another process (is gpsd running on "
                                          "it?)",
                                          device));
        }
        fail(device, "flock");
    }
    if (ioctl(fd, TIOCEXCL) != 0) {
        fail(device, "ioctl(TIOCEXCL)");
    }

    termios tio{};
    if (tcgetattr(fd, &tio) != 0) {
        fail(device, "tcgetattr");
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~static_cast<tcflag_t>(CRTSCTS);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    cfsetispeed(&tio, speed_constant(baud));
    cfsetospeed(&tio, speed_constant(baud));
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        fail(device, "tcsetattr");
    }
    tcflush(fd, TCIFLUSH); // bytes queued before we looked have no stamp

    // Low latency: the 8250 driver and FTDI push received bytes at once
    // instead of on a timer. Best effort: ptys and many drivers refuse.
    serial_struct serial{};
    if (ioctl(fd, TIOCGSERIAL, &serial) == 0) {
        serial.flags |= ASYNC_LOW_LATENCY;
        if (ioctl(fd, TIOCSSERIAL, &serial) != 0) {
            spdlog::debug("{}: low-latency mode not set: {}", device, std::strerror(errno));
        }
    } else {
        spdlog::debug("{}: low-latency mode not available: {}", device, std::strerror(errno));
    }

    struct stat st {};
    const bool burst = fstat(fd, &st) == 0 && is_burst_tty(major(st.st_rdev));
    result.line_rate = !burst;
    result.is_tty = true;
    result.description =
        burst ? "pty or USB CDC-ACM (no line rate)" : fmt::format("serial {} baud", baud);
    return result;
}

NmeaDevice open_tcp(const std::string& device, const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    // getaddrinfo blocks on a name lookup; a receiver is normally named by
    // address or in /etc/hosts, and a reopen happens at most every second.
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        throw DeviceError(fmt::format("{}: cannot resolve: {}", device, gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
    NmeaDevice result;
    result.fd.reset(::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             found->ai_protocol));
    if (!result.fd.valid()) {
        fail(device, "socket");
    }
    // Non-blocking: a refused or failed connection shows up as a read error
    // in the event loop, like any other device failure.
    if (::connect(result.fd.get(), found->ai_addr, found->ai_addrlen) != 0 &&
        errno != EINPROGRESS) {
        fail(device, "connect");
    }
    result.line_rate = false;
    result.description = fmt::format("tcp {}:{}", host, port);
    return result;
}

} // namespace

NmeaDevice open_nmea_device(const std::string& device, int baud) {
    const auto parsed = parse_device_address(device);
    if (const auto* problem = std::get_if<std::string>(&parsed)) {
        throw DeviceError(device + ": " + *problem); // config.cpp refuses these first
    }
    const auto& address = std::get<DeviceAddress>(parsed);
    if (const auto* tcp = std::get_if<TcpAddress>(&address)) {
        return open_tcp(device, tcp->host, tcp->port);
    }
    return open_serial(device, baud);
}

} // namespace shmrefclock
