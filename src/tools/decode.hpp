// `shmrefclock decode`: what the daemon would publish from an NMEA capture,
// cycle by cycle, with the reason for each refusal. The capture is replayed
// through the nmea source's own core (core/nmea_core.hpp) with the timing
// the capture carries, or a synthetic one.
#pragma once

#include <chrono>
#include <ctime>
#include <iosfwd>
#include <optional>

namespace shmrefclock {

struct DecodeOptions {
    // One JSON object per line instead of text.
    bool json = false;
    // The parser's floor (`--not-before`): picks the century of two-digit
    // years; dates before it are repaired by 1024-week steps when
    // `system_clock` agrees. The daemon's is
    // its release date; 2000-01-01 reads captures of any age since 2000 as
    // they were.
    std::chrono::year_month_day not_before{std::chrono::year{2000}, std::chrono::January,
                                           std::chrono::day{1}};
    // The system clock the date rules take as evidence (`--now`; main
    // passes the system clock when decode runs): a date before the floor is
    // repaired by 1024-week steps only to within a year of it, as the daemon
    // does with its clock at each cycle (docs/design.md, "Evidence for a
    // receiver's time"). std::nullopt: no evidence, nothing is repaired.
    // There is no kernel witness in decode.
    std::optional<time_t> system_clock;
    // The refclock's `baud` and `min-fixes`.
    int baud = 9600;
    int min_fixes = 3;
    // Where the one-line summary goes (main passes &std::cerr), after a
    // hint when the replay's rate is too slow for the capture or every date
    // in it is refused (with the --baud, or the --now and --not-before, that
    // replay it); nowhere when null.
    std::ostream* summary = nullptr;
};

// Reads a whole capture from `in` and writes to `out` one line per
// reporting cycle the daemon would frame. Lines starting with '#' are
// gpsd's metadata and skipped.
//
// Timing: if every other line starts with a time in seconds and a blank
// ("1764590401.123456 $GPRMC,..."), the line's first byte arrives then (the
// format of `ts %.s` and of the tests' timed captures). Otherwise (gpsd's
// .log files) the timing is synthetic: a cycle is the run of sentences that
// begins with a time-bearing sentence naming a new time, and each cycle is
// sent at the instant it names (as far apart as the capture's times are,
// 0.5 s for a 2 Hz receiver; 1 s when they go backwards or jump by more than
// 10 minutes). Either way the bytes
// come at `baud`, 8N1, queued behind each other as a UART sends them.
//
// Text:  2015-03-18T17:19:26.000Z GNRMC published
//        2015-03-18T17:19:27.000Z GNRMC repaired refused: acquiring: ...
//        2014-02-19T12:00:00.000Z GNRMC refused: date not plausible
//        - - refused: receiver reports no fix
// JSON:  {"time":"...","sentence":"GNRMC","published":true,"receive":"..."
//         [,"repaired":true][,"leap_second":true][,"reason":"..."]}
// Times are ISO 8601 UTC with milliseconds, as gpsd writes TPV "time"
// (truncated, so the second shown is always the cycle's); an inserted leap
// second shows as 23:59:60. "receive" is the stamp the replay gave the
// cycle's first byte, with nanoseconds.
//
// Returns 0, also when nothing would be published; 3 if reading `in` failed
// or the capture is over 64 MiB.
int decode_capture(std::istream& in, std::ostream& out, const DecodeOptions& options);

} // namespace shmrefclock
