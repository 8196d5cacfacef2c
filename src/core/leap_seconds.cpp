#include "core/leap_seconds.hpp"

#include <array>
#include <chrono>

#include <fmt/format.h>
#include <nettle/sha1.h>

namespace shmrefclock {

namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

// Floor division: POSIX day numbers before 1970 are negative.
std::int64_t day_of(std::int64_t posix_seconds) {
    std::int64_t day = posix_seconds / seconds_per_day;
    return posix_seconds % seconds_per_day < 0 ? day - 1 : day;
}

year_month_day civil(std::int64_t posix_seconds) {
    return year_month_day{sys_days{days{day_of(posix_seconds)}}};
}

std::string date_text(std::int64_t posix_seconds) {
    const year_month_day d = civil(posix_seconds);
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()),
                       static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> fields_of(std::string_view text) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_space(text[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !is_space(text[i])) {
            ++i;
        }
        if (i > start) {
            fields.push_back(text.substr(start, i - start));
        }
    }
    return fields;
}

// A decimal number of at most 15 digits (NTP seconds need 10; more is not a
// date), or nothing.
std::optional<std::int64_t> decimal(std::string_view text) {
    if (text.empty() || text.size() > 15) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

// One word of the #h line: 1 to 8 hex digits. NIST's copies have printed
// words without their leading zeros, so the value counts, not the width.
std::optional<std::uint32_t> hex_word(std::string_view text) {
    if (text.empty() || text.size() > 8) {
        return std::nullopt;
    }
    std::uint32_t value = 0;
    for (const char c : text) {
        unsigned digit = 0;
        if (c >= '0' && c <= '9') {
            digit = static_cast<unsigned>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            digit = static_cast<unsigned>(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            digit = static_cast<unsigned>(c - 'A' + 10);
        } else {
            return std::nullopt;
        }
        value = value * 16 + digit;
    }
    return value;
}

using Digest = std::array<std::uint32_t, 5>;

std::string digest_text(const Digest& d) {
    return fmt::format("{:08x} {:08x} {:08x} {:08x} {:08x}", d[0], d[1], d[2], d[3], d[4]);
}

LeapListLoad failure(LeapListProblem problem, int line, std::string detail) {
    LeapListLoad load;
    load.problem = problem;
    load.line = line;
    load.detail = std::move(detail);
    return load;
}

// The largest sane TAI - UTC: 37 s in 2017, growing by about one a year at most.
constexpr std::int64_t max_tai_offset = 1000;

} // namespace

LeapListLoad parse_leap_seconds_list(std::string_view text) {
    sha1_ctx sha;
    sha1_init(&sha);
    auto hash = [&sha](std::string_view digits) {
        sha1_update(&sha, digits.size(), reinterpret_cast<const std::uint8_t*>(digits.data()));
    };
    LeapSecondsList list;
    std::optional<std::int64_t> updated, expires;
    std::optional<Digest> stated;
    std::vector<int> entry_lines;

    int number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++number;

        if (line.find('\0') != std::string_view::npos) {
            return failure(LeapListProblem::malformed, number, "a NUL byte");
        }
        if (line.size() >= 2 && line[0] == '#' && (line[1] == '$' || line[1] == '@')) {
            const bool is_update = line[1] == '$';
            const auto fields = fields_of(line.substr(2));
            const auto value = fields.size() == 1 ? decimal(fields[0]) : std::nullopt;
            std::optional<std::int64_t>& slot = is_update ? updated : expires;
            const char* what = is_update ? "#$ (last update)" : "#@ (expiry)";
            if (!value) {
                return failure(LeapListProblem::malformed, number,
                               fmt::format("{} must be one number of NTP seconds", what));
            }
            if (slot) {
                return failure(LeapListProblem::malformed, number,
                               fmt::format("a second {} line", what));
            }
            slot = *value - ntp_epoch_offset_s;
            hash(fields[0]);
            continue;
        }
        if (line.size() >= 2 && line[0] == '#' && line[1] == 'h') {
            const auto fields = fields_of(line.substr(2));
            Digest digest{};
            bool ok = fields.size() == digest.size();
            for (std::size_t i = 0; ok && i < digest.size(); ++i) {
                const auto word = hex_word(fields[i]);
                ok = word.has_value();
                digest[i] = word.value_or(0);
            }
            if (!ok) {
                return failure(LeapListProblem::malformed, number,
                               "#h must be five hex words (SHA-1)");
            }
            if (stated) {
                return failure(LeapListProblem::malformed, number, "a second #h line");
            }
            stated = digest;
            continue;
        }
        if (!line.empty() && line[0] == '#') {
            continue; // a comment
        }
        const auto fields = fields_of(line.substr(0, line.find('#')));
        if (fields.empty()) {
            continue; // blank
        }
        const auto start = fields.size() == 2 ? decimal(fields[0]) : std::nullopt;
        const auto offset = fields.size() == 2 ? decimal(fields[1]) : std::nullopt;
        if (!start || !offset) {
            return failure(LeapListProblem::malformed, number,
                           "expected NTP seconds and TAI-UTC, two whole numbers");
        }
        if (*offset > max_tai_offset) {
            return failure(LeapListProblem::malformed, number,
                           fmt::format("TAI-UTC {} s is not plausible", *offset));
        }
        hash(fields[0]);
        hash(fields[1]);
        list.entries.push_back({*start - ntp_epoch_offset_s, static_cast<int>(*offset)});
        entry_lines.push_back(number);
    }

    if (!updated) {
        return failure(LeapListProblem::malformed, 0, "no #$ line (last update)");
    }
    if (!expires) {
        return failure(LeapListProblem::malformed, 0, "no #@ line (expiry)");
    }
    if (list.entries.empty()) {
        return failure(LeapListProblem::malformed, 0, "no leap-second lines");
    }
    if (!stated) {
        return failure(LeapListProblem::no_hash, 0, "no #h line (SHA-1 of the data)");
    }
    std::array<std::uint8_t, SHA1_DIGEST_SIZE> raw{};
    sha1_digest(&sha, raw.size(), raw.data());
    Digest computed{};
    for (std::size_t i = 0; i < computed.size(); ++i) {
        for (std::size_t b = 0; b < 4; ++b) {
            computed[i] = computed[i] << 8 | raw[i * 4 + b];
        }
    }
    if (computed != *stated) {
        return failure(LeapListProblem::bad_hash, 0,
                       fmt::format("the #h line says {}, the data hash to {}", digest_text(*stated),
                                   digest_text(computed)));
    }

    // A list whose hash matches can still not be what it says: each step is
    // one second at 00:00:00 UTC, in order (the IERS publishes nothing else).
    for (std::size_t i = 0; i < list.entries.size(); ++i) {
        const LeapEntry& e = list.entries[i];
        if (e.start % seconds_per_day != 0) {
            return failure(LeapListProblem::malformed, entry_lines[i],
                           "a leap second must take effect at 00:00:00 UTC");
        }
        if (i == 0) {
            continue; // the base offset (10 s on 1972-01-01), not a leap
        }
        const LeapEntry& before = list.entries[i - 1];
        if (e.start <= before.start) {
            return failure(LeapListProblem::malformed, entry_lines[i],
                           "not after the line before it");
        }
        if (e.tai_offset != before.tai_offset + 1 && e.tai_offset != before.tai_offset - 1) {
            return failure(LeapListProblem::malformed, entry_lines[i],
                           "TAI-UTC must change by one second");
        }
    }
    list.updated = *updated;
    list.expires = *expires;
    LeapListLoad load;
    load.list = std::move(list);
    load.problem = LeapListProblem::none;
    return load;
}

LeapListState leap_list_state(const LeapListLoad& load, std::int64_t now) {
    switch (load.problem) {
    case LeapListProblem::none:
        if (!load.list) {
            return LeapListState::not_configured; // built by hand without a list
        }
        return now < load.list->expires ? LeapListState::valid : LeapListState::expired;
    case LeapListProblem::not_configured:
        return LeapListState::not_configured;
    case LeapListProblem::missing:
        return LeapListState::missing;
    case LeapListProblem::unreadable:
        return LeapListState::unreadable;
    case LeapListProblem::malformed:
        return LeapListState::malformed;
    case LeapListProblem::no_hash:
        return LeapListState::no_hash;
    case LeapListProblem::bad_hash:
        return LeapListState::bad_hash;
    }
    return LeapListState::malformed;
}

std::string_view to_string(LeapListState state) {
    switch (state) {
    case LeapListState::valid:
        return "valid";
    case LeapListState::expired:
        return "expired";
    case LeapListState::not_configured:
        return "not configured";
    case LeapListState::missing:
        return "missing";
    case LeapListState::unreadable:
        return "unreadable";
    case LeapListState::malformed:
        return "malformed";
    case LeapListState::no_hash:
        return "no hash";
    case LeapListState::bad_hash:
        return "bad hash";
    }
    return "unknown";
}

std::string describe(const LeapListLoad& load, std::int64_t now) {
    const LeapListState state = leap_list_state(load, now);
    switch (state) {
    case LeapListState::valid:
        return fmt::format("valid until {}", date_text(load.list->expires));
    case LeapListState::expired:
        return fmt::format("expired on {}", date_text(load.list->expires));
    default:
        break;
    }
    std::string text(to_string(state));
    if (load.line > 0) {
        text += fmt::format(": line {}", load.line);
    }
    if (!load.detail.empty()) {
        text += ": " + load.detail;
    }
    return text;
}

std::optional<LeapEvent> next_leap_event(const LeapSecondsList& list, std::int64_t now) {
    for (std::size_t i = 1; i < list.entries.size(); ++i) {
        const LeapEntry& e = list.entries[i];
        if (e.start > now) {
            const bool insert = e.tai_offset > list.entries[i - 1].tai_offset;
            return LeapEvent{e.start, insert ? Leap::insert : Leap::remove};
        }
    }
    return std::nullopt;
}

namespace {

// `kind` if `utc_seconds` is on the last day before the event at `at` and
// that day is June 30 or December 31.
Leap on_announcing_day(std::int64_t at, Leap kind, std::int64_t utc_seconds) {
    if (day_of(at) - 1 != day_of(utc_seconds) || at % seconds_per_day != 0) {
        return Leap::none; // not the last day before the event
    }
    // The day that ends with the leap: only June 30 and December 31.
    const year_month_day last_day = civil(at - seconds_per_day);
    using std::chrono::December;
    using std::chrono::June;
    const bool allowed = (last_day.month() == June && last_day.day() == std::chrono::day{30}) ||
                         (last_day.month() == December && last_day.day() == std::chrono::day{31});
    return allowed ? kind : Leap::none;
}

} // namespace

Leap leap_announcement(const LeapListLoad& load, std::int64_t utc_seconds) {
    if (leap_list_state(load, utc_seconds) != LeapListState::valid) {
        return Leap::none;
    }
    const auto event = next_leap_event(*load.list, utc_seconds);
    if (!event) {
        return Leap::none;
    }
    return on_announcing_day(event->at, event->kind, utc_seconds);
}

Leap receiver_leap_announcement(std::int64_t event, int change, std::int64_t utc_seconds) {
    if (change == 0 || event <= utc_seconds) {
        return Leap::none;
    }
    return on_announcing_day(event, change > 0 ? Leap::insert : Leap::remove, utc_seconds);
}

LeapChoice choose_leap(const LeapListLoad& load, std::int64_t utc_seconds, Leap receiver) {
    LeapChoice choice;
    if (leap_list_state(load, utc_seconds) == LeapListState::valid) {
        choice.leap = leap_announcement(load, utc_seconds);
        choice.disagree = receiver != Leap::none && receiver != choice.leap;
        return choice;
    }
    choice.leap = receiver;
    choice.from_receiver = receiver != Leap::none;
    return choice;
}

LeapSecondCheck inserted_leap_second(const LeapListLoad& load, std::int64_t day_end) {
    if (leap_list_state(load, day_end - 1) != LeapListState::valid) {
        return LeapSecondCheck::unknown;
    }
    const auto& entries = load.list->entries;
    for (std::size_t i = 1; i < entries.size(); ++i) {
        if (entries[i].start == day_end) {
            return entries[i].tai_offset > entries[i - 1].tai_offset
                       ? LeapSecondCheck::scheduled
                       : LeapSecondCheck::not_scheduled;
        }
    }
    return LeapSecondCheck::not_scheduled;
}

std::string_view to_string(LeapSecondCheck check) {
    switch (check) {
    case LeapSecondCheck::unknown:
        return "unknown";
    case LeapSecondCheck::scheduled:
        return "scheduled";
    case LeapSecondCheck::not_scheduled:
        return "not scheduled";
    }
    return "?";
}

std::string kernel_leap_disagreement(Leap announced, bool kernel_insert, bool kernel_delete) {
    const Leap armed = kernel_insert ? Leap::insert : kernel_delete ? Leap::remove : Leap::none;
    if (armed == announced) {
        return {};
    }
    auto name = [](Leap leap) {
        return leap == Leap::insert   ? "an insertion"
               : leap == Leap::remove ? "a deletion"
                                      : "no leap second";
    };
    return fmt::format("the kernel has {} armed (STA_INS/STA_DEL), the leap-second list "
                       "announces {}",
                       name(armed), name(announced));
}

} // namespace shmrefclock
