#include "sources/nmea_device.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/serial.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

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
        return B9600; // the config's key table (config/keys.cpp) admits only the values above
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

void set_option(const std::string& device, int fd, int level, int name, int value,
                const char* what) {
    if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
        fail(device, what);
    }
}

} // namespace

NmeaDevice start_tcp_connect(const std::string& device, const addrinfo& address,
                             const std::string& description) {
    NmeaDevice result;
    result.fd.reset(::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             address.ai_protocol));
    if (!result.fd.valid()) {
        fail(device, "socket");
    }
    const int fd = result.fd.get();
    set_option(device, fd, SOL_SOCKET, SO_KEEPALIVE, 1, "setsockopt(SO_KEEPALIVE)");
    set_option(device, fd, IPPROTO_TCP, TCP_KEEPIDLE, tcp_keepalive_idle_s,
               "setsockopt(TCP_KEEPIDLE)");
    set_option(device, fd, IPPROTO_TCP, TCP_KEEPINTVL, tcp_keepalive_interval_s,
               "setsockopt(TCP_KEEPINTVL)");
    set_option(device, fd, IPPROTO_TCP, TCP_KEEPCNT, tcp_keepalive_count,
               "setsockopt(TCP_KEEPCNT)");
    // Non-blocking: the socket becomes writable when the connect completes
    // or fails; a loopback connect may complete at once.
    if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0 && errno != EINPROGRESS) {
        fail(device, "connect");
    }
    result.line_rate = false;
    result.description = description;
    return result;
}

std::string tcp_connect_result(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
    }
    return error == 0 ? std::string() : fmt::format("connect: {}", std::strerror(error));
}

NmeaDevice open_serial_device(const std::string& device, int baud) {
    return open_serial(device, baud);
}

} // namespace shmrefclock
