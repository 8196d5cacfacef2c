// Where an nmea refclock reads from, as the configuration names it: a path
// (a serial port) or tcp://HOST:PORT (a networked receiver, ser2net). Pure:
// shared by the configuration, which validates it, and the device code,
// which opens it, so that neither depends on the other.
#pragma once

#include <string>
#include <variant>

namespace shmrefclock {

struct SerialAddress {
    std::string path;
};

struct TcpAddress {
    std::string host; // without the brackets of an IPv6 literal
    std::string port; // decimal digits
};

using DeviceAddress = std::variant<SerialAddress, TcpAddress>;

// The address `device` names, or a message (without the device text) saying
// what is wrong with a malformed tcp:// URL.
std::variant<DeviceAddress, std::string> parse_device_address(const std::string& device);

} // namespace shmrefclock
