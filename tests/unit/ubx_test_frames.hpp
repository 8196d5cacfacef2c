// UBX frames and payloads built by the tests themselves, from u-blox's
// interface descriptions (offsets below), not from the decoders under test;
// and the captures in tests/data/ubx/ as bytes.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_data_dir.hpp"

namespace ubx_test {

using Bytes = std::vector<std::uint8_t>;

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A capture's bytes without gpsd's leading '#' lines.
inline std::string capture(const std::string& name) {
    const std::string text = read_file(shmrefclock::test::test_data_dir() + "/ubx/" + name);
    std::size_t at = 0;
    while (at < text.size() && text[at] == '#') {
        const std::size_t end = text.find('\n', at);
        REQUIRE(end != std::string::npos);
        at = end + 1;
    }
    return text.substr(at);
}

// A frame: sync, class, id, length, payload, and the checksum computed here.
inline std::string frame(std::uint8_t message_class, std::uint8_t message_id,
                         const Bytes& payload) {
    Bytes body{message_class, message_id, static_cast<std::uint8_t>(payload.size() & 0xff),
               static_cast<std::uint8_t>(payload.size() >> 8)};
    body.insert(body.end(), payload.begin(), payload.end());
    unsigned a = 0;
    unsigned b = 0;
    for (const std::uint8_t byte : body) {
        a = (a + byte) & 0xff;
        b = (b + a) & 0xff;
    }
    std::string out{"\xb5\x62"};
    out.append(body.begin(), body.end());
    out.push_back(static_cast<char>(a));
    out.push_back(static_cast<char>(b));
    return out;
}

// NMEA "$<body>*HH\r\n", the checksum computed here.
inline std::string sentence(const std::string& body) {
    unsigned checksum = 0;
    for (const char c : body) {
        checksum ^= static_cast<unsigned char>(c);
    }
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02X", checksum);
    return "$" + body + "*" + hex + "\r\n";
}

// Little-endian fields into a payload at an offset.
inline void put(Bytes& payload, std::size_t at, std::uint64_t value, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
        payload.at(at + i) = static_cast<std::uint8_t>(value >> (8 * i));
    }
}

} // namespace ubx_test
