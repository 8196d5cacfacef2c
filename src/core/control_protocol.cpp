#include "core/control_protocol.hpp"

#include <fmt/format.h>

#include "core/printable.hpp"

namespace shmrefclock {

namespace {

// At most this much of a bad request is quoted back: enough to recognise it.
constexpr std::size_t quoted_max = 32;

std::string quoted(std::string_view text) {
    const bool cut = text.size() > quoted_max;
    return fmt::format("\"{}\"{}", printable(text.substr(0, quoted_max)), cut ? "..." : "");
}

} // namespace

ControlParse parse_control_request(std::string_view received, bool eof) {
    ControlParse result;
    const auto newline = received.find('\n');
    if (newline == std::string_view::npos || newline + 1 > control_request_max) {
        if (received.size() >= control_request_max ||
            (newline != std::string_view::npos && newline + 1 > control_request_max)) {
            result.kind = ControlParse::Kind::error;
            result.error = fmt::format("request longer than {} bytes", control_request_max);
        } else if (eof) {
            result.kind = ControlParse::Kind::error;
            result.error = fmt::format("request {} not ended by a newline", quoted(received));
        }
        return result;
    }
    std::string_view line = received.substr(0, newline);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (line == "status") {
        result.kind = ControlParse::Kind::request;
    } else if (line == "status history") {
        result.kind = ControlParse::Kind::request;
        result.request.history = true;
    } else {
        result.kind = ControlParse::Kind::error;
        result.error = fmt::format("unknown request {}: expected \"status\" or \"status history\"",
                                   quoted(line));
    }
    return result;
}

std::string control_request_line(const ControlRequest& request) {
    return request.history ? "status history\n" : "status\n";
}

} // namespace shmrefclock
