// Text from outside (a device name, a receiver's bytes, a TOML string, a
// kernel's error text) made safe to put into one log line or one message:
// a byte that a terminal, the journal or a log file would take as a line
// break or a control sequence is written as an escape instead, so that input
// can neither split a line in two nor forge a line of its own (issue 8,
// case 9). The log layer (io/log.cpp) passes every message through this, so
// no caller has to remember to; the configuration uses it for its
// FILE:LINE:COLUMN reports, which are printed without the log.
#pragma once

#include <string>
#include <string_view>

namespace shmrefclock {

// \n, \r and \t as those two-character escapes; every other C0 control
// byte (0x00..0x1f) and DEL (0x7f) as \xNN. A backslash is kept as it is: it
// cannot end a line. Bytes from 0x80 up are kept, so that UTF-8 text stays
// readable; none of them ends a line on its own.
inline std::string printable(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7f) {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0x0f];
        } else {
            out += c;
        }
    }
    return out;
}

// Whether `text` holds a byte printable() would escape.
inline bool has_control_characters(std::string_view text) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            return true;
        }
    }
    return false;
}

} // namespace shmrefclock
