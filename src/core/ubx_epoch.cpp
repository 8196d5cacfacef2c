#include "core/ubx_epoch.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "shmrefclock/sample.hpp"

namespace shmrefclock::ubx {

std::string_view to_string(LeapCount count) noexcept {
    switch (count) {
    case LeapCount::unsaid:
        return "not said";
    case LeapCount::unknown:
        return "not known";
    case LeapCount::known:
        return "known";
    }
    return "?";
}

std::string describe(const UbxReceiver& receiver) {
    std::string text = receiver.fix.empty() ? std::string("no NAV-PVT") : receiver.fix;
    text += ", leap-second count " + receiver.leap_count;
    if (!std::isnan(receiver.time_accuracy_s)) {
        const double ns = receiver.time_accuracy_s * 1e9;
        text += ns < 1e3   ? fmt::format(", tAcc {:.0f} ns", ns)
                : ns < 1e6 ? fmt::format(", tAcc {:.3f} us", ns * 1e-3)
                           : fmt::format(", tAcc {:.3f} ms", ns * 1e-6);
    }
    if (receiver.tim_tp) {
        text += receiver.pulse_locked ? ", pulse locked to GNSS" : ", pulse NOT locked to GNSS";
        text += receiver.raim_active ? ", RAIM active" : ", RAIM not active";
    } else {
        text += ", no TIM-TP";
    }
    return text;
}

namespace {

// NAV-PVT's fixType as the status shows it.
std::string_view fix_type_name(std::uint8_t fix_type) noexcept {
    switch (fix_type) {
    case 0:
        return "no fix";
    case 1:
        return "dead reckoning";
    case 2:
        return "2D";
    case 3:
        return "3D";
    case 4:
        return "GNSS + dead reckoning";
    case 5:
        return "time only";
    default:
        return "unknown fix type";
    }
}

template <typename Message, typename Decode>
void keep(std::optional<Message>& slot, const Item& frame, Decode decode, Lengths lengths,
          std::uint64_t& malformed, bool& kept) {
    const std::optional<Message> message = decode(Payload{frame.bytes}, lengths);
    if (!message) {
        ++malformed;
        return;
    }
    if (!slot) {
        slot = message;
        kept = true;
    }
}

constexpr std::int64_t days_to_seconds(std::int64_t days) {
    return days * seconds_per_day;
}

std::int64_t floor_days(std::int64_t posix_seconds) {
    return posix_seconds >= 0 ? posix_seconds / seconds_per_day
                              : -((-posix_seconds + seconds_per_day - 1) / seconds_per_day);
}

// `name` and the frame's stream positions on a Sentence of type ubx.
nmea::Sentence named(std::string_view name, std::uint64_t begin, std::uint64_t end) {
    nmea::Sentence sentence;
    sentence.type = nmea::SentenceType::ubx;
    const std::size_t length = std::min(name.size(), sentence.address.size());
    std::copy_n(name.begin(), length, sentence.address.begin());
    sentence.address_length = static_cast<std::uint8_t>(length);
    sentence.stream_begin = begin;
    sentence.stream_end = end;
    sentence.reason = nmea::InvalidReason::no_time;
    return sentence;
}

// The time on the sentence, its date judged by the parser's rules: a date
// the rules refuse leaves the sentence invalid (implausible_date), one they
// repair (a 1024-week rollover) is moved by whole days.
void set_time(nmea::Sentence& sentence, const EpochTime& time, const nmea::Parser& parser) {
    const std::int64_t day = floor_days(time.posix_seconds);
    const nmea::Parser::DateVerdict verdict = parser.judge_date(day);
    const std::int64_t seconds = time.posix_seconds + days_to_seconds(verdict.day - day);
    const std::int64_t of_day = seconds - days_to_seconds(verdict.day);
    nmea::TimeOfDay of{};
    of.hour = static_cast<int>(of_day / 3600);
    of.minute = static_cast<int>(of_day / 60 % 60);
    of.second = static_cast<int>(of_day % 60) + (time.leap_second ? 1 : 0);
    of.nanosecond = static_cast<std::uint32_t>(time.millisecond) * 1'000'000u;
    sentence.time = of;
    sentence.date = nmea::DateSource::sentence;
    sentence.utc = timespec{static_cast<time_t>(seconds), static_cast<long>(of.nanosecond)};
    sentence.leap_second = time.leap_second;
    sentence.date_repaired = verdict.repaired;
    sentence.date_problem = verdict.problem;
}

// Valid if nothing is missing; otherwise what is, in the order of what it
// says against the cycle (no_fix and leap_unknown veto it, NMEA included;
// no_time and implausible_date only leave this message out):
// - `has_time`: the receiver has a time at all (no_fix without one);
// - `leap_known`: the epoch's messages, or the stream's last word, say
//   the leap-second count is known (the reason a cold-started u-blox gives
//   nothing, whatever its fix);
// - `fix`: NAV-PVT, when the epoch has one, reports a GNSS fix;
// - `usable`: this message's UTC is its own (validUTC, leapS valid).
void judge(nmea::Sentence& sentence, bool has_time, bool leap_known, bool fix, bool usable) {
    using nmea::InvalidReason;
    if (!has_time) {
        sentence.reason = InvalidReason::no_fix;
    } else if (!leap_known) {
        sentence.reason = InvalidReason::leap_unknown;
    } else if (!fix) {
        sentence.reason = InvalidReason::no_fix;
    } else if (!usable || !sentence.utc) {
        sentence.reason = InvalidReason::no_time;
    } else if (sentence.date_problem != nmea::DateProblem::none) {
        sentence.reason = InvalidReason::implausible_date;
    } else {
        sentence.reason = InvalidReason::none;
    }
    sentence.valid = sentence.reason == InvalidReason::none;
}

} // namespace

void Epoch::add(const Item& frame, Lengths lengths) {
    if (frame.kind != Item::Kind::frame) {
        return;
    }
    ++frames_;
    const std::uint8_t c = frame.message_class;
    const std::uint8_t i = frame.message_id;
    bool kept = false;
    if (is(nav_pvt, c, i)) {
        keep(pvt_, frame, decode_nav_pvt, lengths, malformed_, kept);
        if (kept) {
            pvt_at_ = {frame.stream_begin, frame.stream_end};
        }
    } else if (is(nav_timeutc, c, i)) {
        keep(time_utc_, frame, decode_nav_timeutc, lengths, malformed_, kept);
        if (kept) {
            time_utc_at_ = {frame.stream_begin, frame.stream_end};
        }
    } else if (is(nav_timegps, c, i)) {
        keep(time_gps_, frame, decode_nav_timegps, lengths, malformed_, kept);
        if (kept) {
            time_gps_at_ = {frame.stream_begin, frame.stream_end};
        }
    } else if (is(nav_timels, c, i)) {
        keep(time_ls_, frame, decode_nav_timels, lengths, malformed_, kept);
    } else if (is(ubx::tim_tp, c, i)) {
        keep(tim_tp_, frame, decode_tim_tp, lengths, malformed_, kept);
    }
}

LeapCount Epoch::leap_count() const noexcept {
    if ((time_utc_ && leap_count_known(*time_utc_)) ||
        (time_gps_ && leap_count_known(*time_gps_)) || (time_ls_ && leap_count_known(*time_ls_))) {
        return LeapCount::known;
    }
    if (time_utc_ || time_gps_ || time_ls_) {
        return LeapCount::unknown;
    }
    return LeapCount::unsaid;
}

std::optional<int> Epoch::leap_seconds() const noexcept {
    if (time_ls_ && leap_count_known(*time_ls_)) {
        return time_ls_->curr_ls;
    }
    if (time_gps_ && leap_count_known(*time_gps_)) {
        return time_gps_->leap_s;
    }
    return std::nullopt;
}

std::string_view Epoch::leap_source() const noexcept {
    if (time_utc_ && leap_count_known(*time_utc_)) {
        return "NAV-TIMEUTC";
    }
    if (time_gps_ && leap_count_known(*time_gps_)) {
        return "NAV-TIMEGPS";
    }
    if (time_ls_ && leap_count_known(*time_ls_)) {
        return "NAV-TIMELS";
    }
    return {};
}

std::optional<std::int64_t> Epoch::time_accuracy_ns() const noexcept {
    if (time_utc_) {
        return time_utc_->t_acc_ns;
    }
    if (time_gps_) {
        return time_gps_->t_acc_ns;
    }
    if (pvt_) {
        return pvt_->t_acc_ns;
    }
    return std::nullopt;
}

UbxReceiver Epoch::receiver(LeapCount count) const {
    UbxReceiver out;
    if (pvt_) {
        out.fix = pvt_->gnss_fix_ok() ? std::string(fix_type_name(pvt_->fix_type)) : "no fix";
        out.fix_type = pvt_->gnss_fix_ok() ? pvt_->fix_type : 0;
    }
    out.leap_count = std::string(to_string(count));
    out.leap_count_known = count == LeapCount::known;
    if (const auto accuracy = time_accuracy_ns()) {
        out.time_accuracy_s = static_cast<double>(*accuracy) / 1e9;
    }
    if (tim_tp_) {
        out.tim_tp = true;
        out.pulse_locked = !tim_tp_->tp_not_locked();
        constexpr std::uint8_t raim_active = 2;
        out.raim_active = tim_tp_->raim() == raim_active;
    }
    return out;
}

std::optional<PulseLabel> Epoch::pulse_label(std::optional<int> leap_seconds) const {
    if (!tim_tp_) {
        return std::nullopt;
    }
    const PulseTime pulse = pulse_time(*tim_tp_);
    if (pulse.tow_ns % ns_per_s != 0) {
        return std::nullopt;
    }
    std::int64_t seconds =
        gps_posix_offset + std::int64_t{pulse.week} * seconds_per_week + pulse.tow_ns / ns_per_s;
    if (pulse.utc) {
        // UTC week and time of week, counted from 1980-01-06 in UTC.
        if (!tim_tp_->utc_available()) {
            return std::nullopt;
        }
    } else {
        constexpr std::uint8_t gps = 0;
        if (tim_tp_->time_ref_gnss() != gps || !leap_seconds) {
            return std::nullopt;
        }
        seconds -= *leap_seconds;
    }
    PulseLabel label;
    label.second = timespec{static_cast<time_t>(seconds), 0};
    if (tim_tp_->q_err_valid()) {
        label.q_err_ps = tim_tp_->q_err_ps;
    }
    label.t_acc_ns = time_accuracy_ns();
    label.locked = !tim_tp_->tp_not_locked();
    return label;
}

std::vector<nmea::Sentence> Epoch::times(LeapCount stream, const nmea::Parser& parser) const {
    std::vector<nmea::Sentence> out;
    const LeapCount here = leap_count();
    const bool leap_known =
        here == LeapCount::known || (here == LeapCount::unsaid && stream == LeapCount::known);
    // A fix as NAV-PVT reports it, when the epoch has one: the navigation
    // solution is valid (gnssFixOK) and of a kind that has a time (not
    // "no fix"; dead reckoning alone, 1, has no GNSS time either).
    const bool fix = !pvt_ || (pvt_->gnss_fix_ok() && pvt_->fix_type >= 2);
    if (time_utc_) {
        nmea::Sentence sentence = named("NAV-TIMEUTC", time_utc_at_.begin, time_utc_at_.end);
        if (const auto time = epoch_time(time_utc_->utc)) {
            set_time(sentence, *time, parser);
        }
        // validTOW and validWKN: the receiver has a time at all. Its UTC
        // is its own only with validUTC; with the count known from another
        // message of the epoch, a UTC without validUTC is left out, not a
        // veto against the message that knows.
        judge(sentence, time_utc_->valid_tow() && time_utc_->valid_week(), leap_known, fix,
              leap_count_known(*time_utc_));
        out.push_back(sentence);
    }
    if (time_gps_) {
        nmea::Sentence sentence = named("NAV-TIMEGPS", time_gps_at_.begin, time_gps_at_.end);
        const std::optional<GpsTime> gps = gps_time(*time_gps_);
        const bool has_time = gps && time_gps_->tow_valid() && time_gps_->week_valid();
        if (gps) {
            // UTC = GPS - leapS. (Inside an inserted leap second, a count
            // that changes at the event names 00:00:00 twice: the second
            // one is a repeat, which the timeline refuses.)
            EpochTime time;
            time.posix_seconds = gps_posix_offset + gps->seconds - time_gps_->leap_s;
            time.millisecond = gps->millisecond;
            set_time(sentence, time, parser);
        }
        // Likewise: UTC from a leapS that is not valid is not UTC.
        judge(sentence, has_time, leap_known, fix, leap_count_known(*time_gps_));
        out.push_back(sentence);
    }
    if (pvt_) {
        nmea::Sentence sentence = named("NAV-PVT", pvt_at_.begin, pvt_at_.end);
        if (const auto time = epoch_time(pvt_->utc)) {
            set_time(sentence, *time, parser);
        }
        // Not fully resolved: the second itself is ambiguous.
        judge(sentence, pvt_->valid_date() && pvt_->valid_time() && pvt_->fully_resolved(),
              leap_known, fix, true);
        out.push_back(sentence);
    }
    return out;
}

} // namespace shmrefclock::ubx
