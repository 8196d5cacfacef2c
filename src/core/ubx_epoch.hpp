// One navigation epoch of a u-blox receiver: the UBX timing messages that one
// reporting cycle carried (core/ubx_messages.hpp), and the time they name in
// the shape the NMEA core judges times by (nmea::Sentence, type ubx), so that
// a stream of UBX, NMEA or both is one cycle with one set of rules: date
// rules, continuity, the witness (docs/design.md, "UBX framing and
// messages", issue 21).
//
// The rule this exists for: UTC is named only when the receiver says it
// knows the leap-second count (NAV-TIMEUTC validUTC, NAV-TIMEGPS leapS valid,
// NAV-TIMELS a current count from a satellite system). At a cold start a
// u-blox reports UTC with its firmware's count until the almanac arrives (up
// to 12.5 minutes): ublox-glo.log's NAV-PVT says "fully resolved" while
// NAV-TIMEGPS says leapS is not valid. NAV-PVT's time is used only with the
// count known from the epoch's other messages or the stream's last word on
// it.
//
// Pure: no I/O, no clocks, no logging.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/live_state.hpp"
#include "core/nmea_parser.hpp"
#include "core/pps_numbering.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"

namespace shmrefclock::ubx {

// What the receiver has said about the leap-second count.
enum class LeapCount : std::uint8_t {
    unsaid,  // no NAV-TIMEUTC, NAV-TIMEGPS or NAV-TIMELS (yet)
    unknown, // the last that said anything said it is not known
    known,
};

std::string_view to_string(LeapCount count) noexcept;
// One line for `shmrefclock status` and the status page, e.g. "3D,
// leap-second count known, tAcc 12 ns, pulse locked to GNSS, RAIM active".
std::string describe(const UbxReceiver& receiver);

class Epoch {
public:
    // A frame of the cycle (Item::Kind::frame). A timing message is decoded
    // and kept (the first of each kind; a second one is counted as a
    // repeat); a known message whose payload does not decode is counted
    // malformed; other messages only count as frames. `lengths`: the
    // receiver's protocol version's rule (length_rule).
    void add(const Item& frame, Lengths lengths = Lengths::at_least);

    // Whether the cycle held any UBX frame at all, and any timing message.
    bool any_frame() const noexcept { return frames_ > 0; }
    bool any_timing() const noexcept {
        return pvt_ || time_utc_ || time_gps_ || time_ls_ || tim_tp_;
    }
    std::uint64_t malformed() const noexcept { return malformed_; }

    // What this epoch's messages say about the leap-second count: known if
    // any one says so (ubx_messages.hpp, leap_count_known), unknown if one
    // of them is present and none says so, unsaid if none is present.
    LeapCount leap_count() const noexcept;
    // The GPS - UTC offset the epoch's messages give with the count known
    // (NAV-TIMELS currLs, NAV-TIMEGPS leapS), for the log.
    std::optional<int> leap_seconds() const noexcept;
    // Which message said so: "NAV-TIMEUTC", "NAV-TIMEGPS", "NAV-TIMELS".
    std::string_view leap_source() const noexcept;
    // The receiver's estimate of its time's accuracy (tAcc, ns): from
    // NAV-TIMEUTC, else NAV-TIMEGPS, else NAV-PVT, the messages whose time
    // is taken in that order (times()). None without any of them.
    std::optional<std::int64_t> time_accuracy_ns() const noexcept;

    // The times the epoch names, one Sentence per message that names one,
    // in order of precedence: NAV-TIMEUTC, NAV-TIMEGPS, NAV-PVT. `stream`:
    // what the stream said before this epoch (NAV-PVT's time needs the
    // count known here or there). Dates are judged by `parser`'s rules
    // (Parser::judge_date). A time is `valid` only with the fix, the date,
    // the time and the leap-second count all vouched for; otherwise its
    // reason says what was missing (leap_unknown, no_fix, no_time,
    // implausible_date).
    std::vector<nmea::Sentence> times(LeapCount stream, const nmea::Parser& parser) const;

    // The label of the next pulse from the epoch's TIM-TP (the caller sets
    // `announced`): the UTC second it names, its qErr when valid and the
    // epoch's time accuracy (time_accuracy_ns). None
    // when the epoch has no TIM-TP, the pulse is not on a whole second, or
    // its time cannot be taken to UTC: a UTC time base without "UTC
    // available", a GNSS time base other than GPS, or GPS time without a
    // known GPS - UTC (`leap_seconds`, the count the receiver said it
    // knows).
    std::optional<PulseLabel> pulse_label(std::optional<int> leap_seconds) const;

    // The receiver's word on its health in this epoch, for the live state:
    // its fix, `count` (the stream's leap-second count after this epoch),
    // tAcc, and TIM-TP's pulse lock and RAIM.
    UbxReceiver receiver(LeapCount count) const;

    const std::optional<NavPvt>& pvt() const noexcept { return pvt_; }
    const std::optional<NavTimeUtc>& time_utc() const noexcept { return time_utc_; }
    const std::optional<NavTimeGps>& time_gps() const noexcept { return time_gps_; }
    const std::optional<NavTimeLs>& time_ls() const noexcept { return time_ls_; }
    const std::optional<TimTp>& tim_tp() const noexcept { return tim_tp_; }

private:
    struct Position {
        std::uint64_t begin = 0;
        std::uint64_t end = 0;
    };
    std::optional<NavPvt> pvt_;
    std::optional<NavTimeUtc> time_utc_;
    std::optional<NavTimeGps> time_gps_;
    std::optional<NavTimeLs> time_ls_;
    std::optional<TimTp> tim_tp_;
    Position pvt_at_, time_utc_at_, time_gps_at_;
    std::uint64_t frames_ = 0;
    std::uint64_t malformed_ = 0;
};

// GPS time (1980-01-06 00:00:00 UTC, no leap seconds) at the POSIX epoch's
// scale: POSIX seconds = gps_posix_offset + GPS seconds - (GPS - UTC).
inline constexpr std::int64_t gps_posix_offset = 315'964'800;

} // namespace shmrefclock::ubx
