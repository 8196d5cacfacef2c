#include "core/device_address.hpp"

#include <algorithm>
#include <string>
#include <string_view>

namespace shmrefclock {

namespace {
constexpr std::string_view tcp_scheme = "tcp://";
} // namespace

std::variant<DeviceAddress, std::string> parse_device_address(const std::string& device) {
    if (device.rfind(tcp_scheme, 0) != 0) {
        return DeviceAddress{SerialAddress{device}};
    }
    const std::string rest = device.substr(tcp_scheme.size());
    TcpAddress tcp;
    std::size_t colon;
    if (!rest.empty() && rest.front() == '[') { // [::1]:2947
        const auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
            return std::string("expected tcp://[IPV6]:PORT");
        }
        tcp.host = rest.substr(1, close - 1);
        colon = close + 1;
    } else {
        colon = rest.rfind(':');
        if (colon == std::string::npos) {
            return std::string("expected tcp://HOST:PORT");
        }
        tcp.host = rest.substr(0, colon);
    }
    tcp.port = rest.substr(colon + 1);
    if (tcp.host.empty() || tcp.port.empty() ||
        tcp.port.find_first_not_of("0123456789") != std::string::npos) {
        return std::string("expected tcp://HOST:PORT with a numeric port");
    }
    // Port 0 cannot be connected to, and getaddrinfo takes a larger number
    // modulo 65536 or refuses it only at run time: both would fail forever.
    const std::string digits =
        tcp.port.substr(std::min(tcp.port.find_first_not_of('0'), tcp.port.size() - 1));
    if (digits.size() > 5 || std::stoul(digits) == 0 || std::stoul(digits) > 65535) {
        return std::string("the port must be 1..65535");
    }
    tcp.port = digits;
    return DeviceAddress{std::move(tcp)};
}

} // namespace shmrefclock
