// `shmrefclock decode`: the times an NMEA capture reports, one line per
// reporting cycle, through the same parser the daemon uses.
#pragma once

#include <chrono>
#include <iosfwd>

namespace shmrefclock {

struct DecodeOptions {
    // One JSON object per line instead of text.
    bool json = false;
    // The parser's floor (`--not-before`): picks the century of two-digit
    // years and repairs dates before it by 1024-week steps. 2000-01-01 reads
    // captures of any age since 2000 as they were; a later floor (the
    // daemon's build date) would "repair" an old capture's genuine dates.
    std::chrono::year_month_day not_before{std::chrono::year{2000}, std::chrono::January,
                                           std::chrono::day{1}};
    // Where the one-line summary of the parser's counters goes (main passes
    // &std::cerr); nowhere when null.
    std::ostream* summary = nullptr;
};

// Reads a whole capture from `in` (lines starting with '#' are gpsd's
// metadata and skipped) and writes to `out` one line per reporting cycle
// that has a valid time. A cycle is the run of sentences reporting the same
// second (a capture file has no timing to go by); its time is that of its
// first valid sentence, and it has none if one of its sentences reported no
// fix (nmea::Cycle).
//
// Text:  2015-03-18T17:19:26.000Z GNRMC [repaired] [leap-second]
// JSON:  {"time":"2015-03-18T17:19:26.000Z","sentence":"GNRMC"[,"repaired":true]
//         [,"leap_second":true]}
// Times are ISO 8601 UTC with milliseconds, as gpsd writes TPV "time"
// (truncated, so the second shown is always the cycle's); an inserted leap
// second shows as 23:59:60.
//
// Returns 0, also when no cycle has a valid time; 3 if reading `in` failed.
int decode_capture(std::istream& in, std::ostream& out, const DecodeOptions& options);

} // namespace shmrefclock
