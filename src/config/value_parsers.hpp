// What a string value must look like to mean something: names, modes,
// paths, device and listen addresses. I/O-free. Where the answer is yes or
// no the key table (keys.cpp) words the message; a device or a listen
// address says itself what is wrong with it. The listen
// address parser, parse_listen_address, is declared in config.hpp: the
// daemon's tests use it too.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shmrefclock {

inline constexpr std::size_t max_name_length = 32;

// 1 to max_name_length characters of A-Z a-z 0-9 . _ -
bool valid_name(std::string_view name);

// "0600", "644": three or four octal digits, at most 0777.
std::optional<unsigned> parse_perm(std::string_view text);

// An absolute path that fits sun_path (108 bytes with the terminating NUL),
// without control characters (it is logged).
bool valid_socket_path(std::string_view path);

// The longest `device`: PATH_MAX - 1, the longest path open() takes (and a
// tcp://HOST:PORT is far shorter). Messages quote the device whole.
inline constexpr std::size_t max_device_length = 4095;
// What is wrong with a device address (core/device_address.hpp), as the
// whole message: nothing when it is usable.
std::optional<std::string> device_problem(const std::string& device);

} // namespace shmrefclock
