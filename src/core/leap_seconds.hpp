// The leap-second list (IERS/NIST `leap-seconds.list`, tzdata's copy in
// /usr/share/zoneinfo) and the rule that decides the `leap` field of every
// published sample (docs/design.md, "Leap seconds"). Pure: the text comes in
// as an argument (io/leap_seconds_file reads it), times as POSIX seconds.
//
// The format (the file's own header comments; NTPsec ntp_leapsec.c reads
// the same): lines starting with '#' are comments, except
//   #$ NTP-SECONDS   the last update of the file
//   #@ NTP-SECONDS   its expiry: after it the list says nothing
//   #h W1 W2 W3 W4 W5  SHA-1, five 32-bit hex words
// and every other non-blank line is "NTP-SECONDS DTAI [# comment]": from
// that instant (00:00:00 UTC of a day) on, TAI - UTC = DTAI. NTP seconds
// count from 1900-01-01 (era 0). The hash covers the digits of the #$ value,
// of the #@ value and of the data fields of each data line (not their
// comments), in file order, as one ASCII string without separators.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

// Seconds from the NTP epoch (1900-01-01) to the POSIX epoch (1970-01-01).
inline constexpr std::int64_t ntp_epoch_offset_s = 2'208'988'800;

struct LeapEntry {
    // POSIX seconds: 00:00:00 UTC of the day from which `tai_offset` holds.
    std::int64_t start = 0;
    int tai_offset = 0; // TAI - UTC, seconds
};

struct LeapSecondsList {
    std::int64_t updated = 0; // #$, POSIX seconds
    std::int64_t expires = 0; // #@, POSIX seconds: the list says nothing from then on
    std::vector<LeapEntry> entries;
};

// Why a list cannot be used. Expiry is not here: it depends on the time the
// list is asked about (leap_list_state()).
enum class LeapListProblem {
    none,
    not_configured, // leap-seconds = "" in the configuration
    missing,        // no such file
    unreadable,     // any other error reading it, or too large
    malformed,      // a line that is not in the format (`line` says which)
    no_hash,        // no #h line: nothing to check the data against
    bad_hash,       // the #h line does not match the data
};

// A parse or load: the list, or why there is none. Errors are values: a bad
// list must never stop the daemon, only its announcements.
struct LeapListLoad {
    std::optional<LeapSecondsList> list; // present iff problem == none
    // Nothing loaded until a parse or a load says otherwise.
    LeapListProblem problem = LeapListProblem::not_configured;
    int line = 0;       // 1-based, for `malformed`
    std::string detail; // what was wrong, in words (never the file's bytes)
};

LeapListLoad parse_leap_seconds_list(std::string_view text);

// What `status` and the log call a list at a given time.
enum class LeapListState {
    valid,
    expired,
    not_configured,
    missing,
    unreadable,
    malformed,
    no_hash,
    bad_hash,
};
LeapListState leap_list_state(const LeapListLoad& load, std::int64_t now);
std::string_view to_string(LeapListState state);
// One line for the log and `status`: "expired on 2026-06-28", "bad hash: ...",
// "line 12: ...", "valid until 2026-06-28".
std::string describe(const LeapListLoad& load, std::int64_t now);

// A leap second at the end of the UTC day before `at`.
struct LeapEvent {
    std::int64_t at = 0; // POSIX seconds of the 00:00:00 that follows the leap
    Leap kind = Leap::none;
};

// The first leap in the list at or after `now` (the one whose day `now` is
// in counts), whether or not it may be announced yet; none past the list's end.
std::optional<LeapEvent> next_leap_event(const LeapSecondsList& list, std::int64_t now);

// The `leap` field of a sample whose reference time is `utc_seconds` (POSIX,
// its whole second): insert or delete only during the last UTC day of June
// or December before the event, as chrony (reference.c, leap seconds only
// on June 30 and December 31) and gpsd announce, and only from a list that
// is valid and not expired at `utc_seconds`. A list that schedules a leap at
// the end of any other day announces nothing: the IERS has never used other
// days, and such an entry is more likely an error than a decision.
Leap leap_announcement(const LeapListLoad& load, std::int64_t utc_seconds);

// A leap second the receiver announces (u-blox NAV-TIMELS, issue 21): the
// `leap` it gives a sample whose reference time is `utc_seconds`, for an
// event `event` (POSIX seconds of the 00:00:00 after it) of `change` +1 or
// -1 seconds: insert or delete only on the last UTC day before the event,
// and as the list's, only when that day is June 30 or December 31.
Leap receiver_leap_announcement(std::int64_t event, int change, std::int64_t utc_seconds);

// The `leap` of a sample (utc_seconds) whose receiver announced `receiver`
// (Leap::none from receivers that announce nothing): the list's while the
// list is valid and current, the receiver's when the list is missing,
// corrupt or expired (Debian 12's tzdata list expired on 2026-06-28).
struct LeapChoice {
    Leap leap = Leap::none;
    bool from_receiver = false; // the list could not say; the receiver did
    bool disagree = false;      // a current list and the receiver differ
};
LeapChoice choose_leap(const LeapListLoad& load, std::int64_t utc_seconds, Leap receiver);

// What a list says about a receiver's 23:59:60 at the end of the UTC day
// that ends at `day_end` (POSIX seconds of the 00:00:00 that follows it).
enum class LeapSecondCheck {
    unknown,       // no usable list: missing, corrupt, or expired by then
    scheduled,     // the list inserts a second there (TAI - UTC grows by one)
    not_scheduled, // a valid, unexpired list inserts none there
};
// A list that is valid and not expired at the leap second itself
// (`day_end` - 1) lists every leap second up to its expiry (the IERS
// announces them six months ahead, and the list's expiry is set so that it
// is complete until then): a 23:59:60 it does not list did not happen. An
// insertion listed at the end of a day other than June 30 or December 31 is
// still scheduled here: it is not announced (leap_announcement()), but a
// receiver that agrees with the list is not contradicted by it.
LeapSecondCheck inserted_leap_second(const LeapListLoad& load, std::int64_t day_end);
std::string_view to_string(LeapSecondCheck check);

// The kernel's own leap state (STA_INS / STA_DEL, set by the NTP daemon) next
// to the list's announcement. The announcement never follows the kernel: the
// NTP daemon that arms the kernel may have taken its leap vote from this
// daemon's samples (NTPsec lets a refclock win the vote outright), and
// following it would echo the vote back as evidence. Empty when they agree;
// else what differs, for `status` and the daemon's log (daemon/leap_list).
// The kernel's bits are KernelClock::leap_insert / leap_delete
// (core/kernel_clock.hpp).
std::string kernel_leap_disagreement(Leap announced, bool kernel_insert, bool kernel_delete);

} // namespace shmrefclock
