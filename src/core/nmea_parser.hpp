// NMEA 0183 time parser: bytes from a GNSS receiver in, UTC times out.
//
// Pure: no I/O, no clocks, no logging, no heap. The caller feeds whatever it
// read (any chunking) and gets one Sentence per time-bearing sentence (RMC,
// ZDA, GGA, GLL, GNS from any talker). Everything else is counted, never
// thrown: a receiver that sends garbage must not be able to crash the daemon
// or make it publish a wrong second.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace shmrefclock::nmea {

// `ubx`: not NMEA, a u-blox UBX message's time (NAV-TIMEUTC, NAV-TIMEGPS,
// NAV-PVT) in the same shape, so that a stream carrying both is judged as one
// cycle (core/ubx_epoch.hpp).
enum class SentenceType : std::uint8_t { rmc, zda, gga, gll, gns, ubx };

// Why a decoded sentence carries no time that may be published.
enum class InvalidReason : std::uint8_t {
    none,
    no_time,          // the time-of-day field is empty
    status_void,      // RMC/GLL status is not 'A' (usually 'V': navigation receiver warning)
    no_fix,           // GGA quality 0; mode indicator 'N' (GNS: 'N' for every constellation)
    not_gnss,         // GGA quality 7/8, mode 'M'/'S': manual input or simulator, not the sky
    no_satellites,    // GGA/GNS fix that uses "00" satellites (not a veto: see Cycle)
    no_recent_fix,    // ZDA: no fix was reported within 2 s of it (ZDA has no status field)
    no_date,          // time of day only, and no date has been carried from RMC/ZDA yet
    implausible_date, // RMC/ZDA date outside the plausible bounds (Sentence::date_problem)
    // UBX: the receiver says it does not know the leap-second count yet, so
    // its UTC rests on its firmware's default (core/ubx_epoch.hpp). A veto
    // for the whole cycle, NMEA included: the same receiver's UTC.
    leap_unknown,
};

// Why a date (RMC ddmmyy, ZDA dd,mm,yyyy) cannot be the receiver's today
// (docs/design.md, "Evidence for a receiver's time").
enum class DateProblem : std::uint8_t {
    none,
    // Before the floor, and the system clock is not past the floor: no
    // evidence to repair it by.
    before_floor_no_evidence,
    // Before the floor, and no 1024-week step brings it within
    // Parser::evidence_days of the system clock.
    no_agreeing_rollover,
    // More than 1024 weeks after the floor (and, with evidence, more than
    // Parser::evidence_days after the system clock): a two-digit year read
    // in the wrong century, ZDA year 9999.
    too_late,
};

// Where a sentence's date came from.
enum class DateSource : std::uint8_t {
    none,     // no date known: the sentence has no full UTC time
    sentence, // its own date field (RMC ddmmyy, ZDA dd,mm,yyyy)
    carried,  // the latest valid RMC/ZDA date, moved across midnight when needed
};

// UTC time of day exactly as the receiver wrote it. `second` is 60 only
// during an inserted leap second (23:59:60).
struct TimeOfDay {
    int hour = 0;
    int minute = 0;
    int second = 0;
    std::uint32_t nanosecond = 0; // the fraction, truncated to 9 digits
};

struct Sentence {
    SentenceType type = SentenceType::rmc;
    // The address field: talker (2 letters, e.g. "GN") + formatter ("RMC");
    // for a UBX message its name ("NAV-TIMEUTC").
    std::array<char, 12> address{};
    std::uint8_t address_length = 5;

    std::string_view talker() const noexcept { return {address.data(), 2}; }
    std::string_view name() const noexcept { return {address.data(), address_length}; }

    std::optional<TimeOfDay> time;

    DateSource date = DateSource::none;
    // The date was before the parser's floor and was moved forward by
    // 1024-week steps (a receiver that missed a GPS week-number rollover),
    // to within Parser::evidence_days of the system clock.
    bool date_repaired = false;
    // Why the sentence's own date was refused (reason implausible_date);
    // `utc` then holds the date as the receiver wrote it, for messages.
    DateProblem date_problem = DateProblem::none;

    // The reported instant as POSIX time (UTC, no leap seconds), when both a
    // time of day and a date are known -- also for invalid sentences, for
    // diagnosis. Only publish it when `valid`.
    //
    // POSIX time has no name for 23:59:60. Like the Linux kernel, which steps
    // CLOCK_REALTIME back at the end of an inserted second and so reads
    // 23:59:59 twice, the leap second is reported as 23:59:59 (tv_nsec keeps
    // the fraction) with `leap_second` set. That is the value CLOCK_REALTIME
    // holds during the leap second, so a sample taken then compares right;
    // a consumer that does not want to publish through the leap skips it.
    std::optional<timespec> utc;
    bool leap_second = false;

    // A fix backs this time and it is complete: `utc` may be published.
    bool valid = false;
    InvalidReason reason = InvalidReason::no_time;

    // Position in the byte stream (counting every byte fed since construction
    // or reset()) of the sentence's '$' and one past its line terminator, so
    // that a caller can find which read delivered the start of a cycle.
    std::uint64_t stream_begin = 0;
    std::uint64_t stream_end = 0;
};

struct Counters {
    std::uint64_t sentences = 0;    // RMC/ZDA/GGA/GLL/GNS decoded (valid or not)
    std::uint64_t bad_checksum = 0; // checksum wrong, or no "*HH" at all
    std::uint64_t malformed = 0;    // checksum right, but a field is out of range or not a number
    std::uint64_t garbage = 0;      // runs of bytes that are not a sentence (non-printable, stray)
    std::uint64_t over_long = 0;    // lines longer than Parser::max_line, dropped
    std::uint64_t unsupported = 0;  // vendor ($P...) and other sentences we do not use
    std::uint64_t implausible_date = 0; // RMC/ZDA whose date cannot be today (DateProblem)
};

class Parser {
public:
    // NMEA 0183 limits a sentence to 82 characters including "\r\n"; some
    // receivers (Trimble RTK GGA, u-blox NMEA 4.11) exceed it. Longer lines
    // are dropped as over-long, never buffered.
    static constexpr std::size_t max_line = 256;
    // 1024 GPS weeks: a receiver with a 10-bit week number that missed a
    // rollover (1999-08-22, 2019-04-07) reports a date this many days early.
    static constexpr int gps_rollover_days = 1024 * 7;

    // A date repaired by 1024-week steps must land within this many days of
    // the system clock: evidence at the scale of years (a Raspberry Pi
    // without an RTC restores its last shutdown time), far below the 19.6
    // years between two candidates, so at most one can agree.
    static constexpr int evidence_days = 366;

    // `floor` is the earliest plausible date (the daemon's build date). It
    // picks the century of RMC's two-digit year, so that the year lies in
    // [floor year - 50, floor year + 50). Plausible dates, the same for RMC
    // and ZDA (docs/design.md, "Evidence for a receiver's time"):
    // - from the floor to 1024 weeks after it (or to evidence_days after
    //   the system clock, when that is later), as the receiver says;
    // - before the floor, only with evidence: moved on by the number of
    //   1024-week steps that brings it within evidence_days of the system
    //   clock (set_system_clock), if there is one.
    // Anything else is decoded with reason implausible_date. Precondition:
    // floor.ok().
    explicit Parser(std::chrono::year_month_day floor) noexcept;

    // The system clock (POSIX seconds) at the cycle being read: evidence
    // for repairing a date before the floor, only when it is itself on or
    // after the floor (a clock before the build date knows nothing).
    // std::nullopt (the default): no evidence, no repair.
    void set_system_clock(std::optional<time_t> now) noexcept;

    // Feed any number of bytes; `on_sentence(const Sentence&)` is called for
    // each RMC/ZDA/GGA/GLL/GNS decoded, in stream order.
    template <typename OnSentence> void feed(std::string_view bytes, OnSentence&& on_sentence) {
        for (const char byte : bytes) {
            if (const Sentence* decoded = push(byte)) {
                on_sentence(*decoded);
            }
        }
    }

    // One byte; returns the sentence that byte completed, if any. The
    // pointer is valid until the next call.
    const Sentence* push(char byte) noexcept;

    // The stream carried bytes the parser is not fed (UBX frames, handed to
    // core/ubx_frame.hpp instead): its next byte is at stream position
    // `position`, so that a sentence's stream_begin and stream_end stay
    // positions in the whole stream. A line cut by such bytes goes on.
    void skip_to(std::uint64_t position) noexcept {
        if (position > position_) {
            position_ = position;
        }
    }
    std::uint64_t position() const noexcept { return position_; }

    // What to make of a date `day` (days since 1970) that a receiver names
    // as its own: the plausible day, whether it was repaired, or why not
    // (the rules of the constructor). For RMC and ZDA here; for a UBX
    // message's date by core/ubx_epoch.hpp.
    struct DateVerdict {
        std::int64_t day = 0;
        bool repaired = false;
        DateProblem problem = DateProblem::none;
    };
    DateVerdict judge_date(std::int64_t day) const noexcept;

    const Counters& counters() const noexcept { return counters_; }

    // Forget the partial line, the carried date and the last fix status (the
    // device was reopened: nothing before it vouches for what follows).
    // Counters and the stream position are kept.
    void reset() noexcept;

private:
    enum class Framing : std::uint8_t { between_lines, in_sentence, discarding };

    struct CarriedDate {
        std::int64_t day = 0;    // days since 1970-01-01
        std::int32_t second = 0; // second of day it was last confirmed at (0..86400)
        bool repaired = false;
    };

    struct FixStatus {
        bool valid = false;
        std::int32_t second = 0; // second of day of the sentence that reported it
    };

    const Sentence* end_line() noexcept;
    const Sentence* decode_line(std::string_view line) noexcept;
    void forget_fix() noexcept;

    std::int64_t floor_day_;
    int floor_year_;
    // The system clock's day, when it is evidence (on or after the floor).
    std::optional<std::int64_t> evidence_day_;

    std::array<char, max_line> line_{};
    std::size_t line_length_ = 0;
    Framing framing_ = Framing::between_lines;
    std::uint64_t position_ = 0;
    std::uint64_t line_begin_ = 0;

    std::optional<CarriedDate> carried_;
    std::optional<FixStatus> fix_;

    Sentence sentence_;
    Counters counters_;
};

// What one reporting cycle -- the sentences a receiver sends about one
// second -- says about the time. The caller decides where cycles begin (the
// daemon by arrival time, `decode` by the second reported) and add()s each
// decoded sentence of the cycle.
class Cycle {
public:
    void add(const Sentence& sentence) noexcept;

    // The cycle's time: its first valid sentence (a UBX message's before an
    // NMEA sentence's: it is the one that says whether the leap-second count
    // is known), unless another sentence of the same cycle reported no fix
    // (status 'V', quality 0, mode 'N', or a simulator) or a UBX message
    // said that the leap-second count is not known: a receiver that
    // contradicts itself within a second is not believed. ZDA without a
    // recent fix, a sentence without a date and a fix with "00" satellites
    // are no evidence against the others.
    const Sentence* time() const noexcept;
    // The cycle's first sentence that said the leap-second count is not
    // known (leap_unknown): why a cycle without a time was not published,
    // before any report of no fix (a cold-started u-blox has neither, and
    // the count is what it waits for).
    const Sentence* leap_unknown() const noexcept {
        return leap_unknown_ ? &*leap_unknown_ : nullptr;
    }
    // The cycle's first sentence whose date was refused (implausible_date),
    // for saying why a cycle without a time was not published. Not a veto:
    // like a malformed sentence, it is only ignored.
    const Sentence* implausible_date() const noexcept {
        return implausible_date_ ? &*implausible_date_ : nullptr;
    }

    void clear() noexcept;

private:
    std::optional<Sentence> first_valid_;
    std::optional<Sentence> implausible_date_;
    std::optional<Sentence> leap_unknown_;
    bool no_fix_reported_ = false;
};

std::string_view to_string(SentenceType type) noexcept;
std::string_view to_string(InvalidReason reason) noexcept;
std::string_view to_string(DateProblem problem) noexcept;

} // namespace shmrefclock::nmea
