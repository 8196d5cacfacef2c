#include "config/value_parsers.hpp"

#include <algorithm>
#include <cstdint>
#include <variant>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/toml_reader.hpp"
#include "core/device_address.hpp"
#include "core/printable.hpp"

namespace shmrefclock {

bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= max_name_length &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
           });
}

std::optional<unsigned> parse_perm(std::string_view text) {
    if (text.size() < 3 || text.size() > 4) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '7') {
            return std::nullopt;
        }
        value = value * 8 + static_cast<unsigned>(c - '0');
    }
    if (value > 0777) {
        return std::nullopt;
    }
    return value;
}

bool valid_socket_path(std::string_view path) {
    return !path.empty() && path.front() == '/' && path.size() <= 107 &&
           !has_control_characters(path);
}

std::optional<std::string> device_problem(const std::string& device) {
    if (device.empty()) {
        return "device must not be empty";
    }
    if (device.size() > max_device_length) {
        // Nothing longer can be opened (PATH_MAX), and every message about
        // the device quotes it whole.
        return fmt::format("device = \"{}\" is {} bytes: a device path is at most {} (PATH_MAX)",
                           toml::excerpt(device), device.size(), max_device_length);
    }
    if (has_control_characters(device)) {
        // A NUL would cut the path open() sees; a newline would forge log
        // lines in every message that names the device.
        return fmt::format("device = \"{}\" must not contain control characters (NUL, newline, "
                           "...)",
                           toml::excerpt(device));
    }
    const auto address = parse_device_address(device);
    if (const auto* problem = std::get_if<std::string>(&address)) {
        return fmt::format("device = {}: {}", toml::excerpt(device), *problem);
    }
    return std::nullopt;
}

std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text) {
    const std::string_view expected =
        "expected IPV4:PORT or [IPV6]:PORT, e.g. \"127.0.0.1:9463\" or \"[::1]:9463\"";
    ListenAddress address;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::string(expected);
        }
        address.host = std::string(text.substr(1, close - 1));
        address.ipv6 = true;
        port = text.substr(close + 2);
        in6_addr binary{};
        if (inet_pton(AF_INET6, address.host.c_str(), &binary) != 1) {
            return fmt::format("\"{}\" is not an IPv6 address (no names: the daemon does not "
                               "resolve the address it listens on)",
                               toml::excerpt(address.host));
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::string(expected);
        }
        address.host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
        if (address.host.find(':') != std::string::npos) {
            return fmt::format("an IPv6 address needs brackets: [{}]:{}",
                               toml::excerpt(address.host), toml::excerpt(port));
        }
        in_addr binary{};
        // inet_pton(AF_INET) takes only the dotted quad: no "127.1", no octal.
        if (inet_pton(AF_INET, address.host.c_str(), &binary) != 1) {
            return fmt::format("\"{}\" is not an IPv4 address (no names: the daemon does not "
                               "resolve the address it listens on)",
                               toml::excerpt(address.host));
        }
    }
    unsigned value = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
        for (char c : port) {
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
    }
    if (!digits || value == 0 || value > 65535) {
        return fmt::format("port \"{}\" must be a number from 1 to 65535", toml::excerpt(port));
    }
    address.port = static_cast<std::uint16_t>(value);
    address.text = address.ipv6 ? fmt::format("[{}]:{}", address.host, value)
                                : fmt::format("{}:{}", address.host, value);
    return address;
}

} // namespace shmrefclock
