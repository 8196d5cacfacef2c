#include "io/service_manager.hpp"

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/unique_fd.hpp"

namespace shmrefclock::service_manager {

namespace {

template <typename T> std::optional<T> parse_decimal(const char* text) {
    if (text == nullptr || *text == '\0') {
        return std::nullopt;
    }
    const char* end = text + std::strlen(text);
    T value{};
    const auto [ptr, ec] = std::from_chars(text, end, value);
    if (ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

} // namespace

bool notify(std::string_view message) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || (path[0] != '/' && path[0] != '@')) {
        return false;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::size_t length = std::strlen(path);
    if (length >= sizeof(address.sun_path)) {
        return false;
    }
    std::memcpy(address.sun_path, path, length);
    socklen_t address_length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    if (path[0] == '@') {
        address.sun_path[0] = '\0'; // abstract namespace, not NUL-terminated
    } else {
        address_length += 1; // a path's terminating NUL, as libsystemd sends it
    }
    const UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return false;
    }
    ssize_t sent = 0;
    do {
        sent = sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                      reinterpret_cast<const sockaddr*>(&address), address_length);
    } while (sent < 0 && errno == EINTR);
    return sent == static_cast<ssize_t>(message.size());
}

std::optional<std::uint64_t> watchdog_usec_from(const char* usec, const char* pid, long self) {
    const auto period = parse_decimal<std::uint64_t>(usec);
    if (!period || *period == 0) {
        return std::nullopt;
    }
    if (pid != nullptr) {
        const auto owner = parse_decimal<long>(pid);
        if (!owner || *owner != self) {
            return std::nullopt;
        }
    }
    return period;
}

std::optional<std::uint64_t> watchdog_usec() {
    return watchdog_usec_from(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                              static_cast<long>(getpid()));
}

} // namespace shmrefclock::service_manager
