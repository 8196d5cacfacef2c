#include "core/nmea_parser.hpp"

#include "core/nmea_fields.hpp"
#include "shmrefclock/sample.hpp"

#include <algorithm>

namespace shmrefclock::nmea {

// Reading one field is nmea_fields.cpp's; assembling sentences and cycles
// from them is this file's.
using namespace fields;
using std::chrono::year_month_day;

Parser::Parser(std::chrono::year_month_day floor) noexcept
    : floor_day_(day_number(floor)), floor_year_(static_cast<int>(floor.year())) {}

void Parser::set_system_clock(std::optional<time_t> now) noexcept {
    evidence_day_.reset();
    if (now) {
        // Floor division: days since 1970 also for a clock before it.
        const auto seconds = static_cast<std::int64_t>(*now);
        const std::int64_t day =
            seconds / seconds_per_day - (seconds % seconds_per_day < 0 ? 1 : 0);
        // Nor is a clock past the last date a receiver can write (ZDA's
        // four-digit year): no date agrees with it, and a date repaired to
        // within a year of the end of time_t overflows its seconds.
        constexpr std::int64_t last_written_day =
            day_number(std::chrono::year{9999} / std::chrono::December / std::chrono::day{31});
        if (day >= floor_day_ && day <= last_written_day) {
            evidence_day_ = day;
        }
    }
}

Parser::DateVerdict Parser::judge_date(std::int64_t day) const noexcept {
    DateVerdict v;
    v.day = day;
    // The latest plausible day: 1024 weeks after the floor -- a 10-bit week
    // receiver built after the floor cannot say more, and no daemon build
    // runs for 19.6 years -- or a year after the system clock if that is
    // later (a build that does run that long).
    std::int64_t last = floor_day_ + gps_rollover_days - 1;
    if (evidence_day_) {
        last = std::max(last, *evidence_day_ + evidence_days);
    }
    if (day >= floor_day_) {
        if (day > last) {
            v.problem = DateProblem::too_late;
        }
        return v;
    }
    // Before the floor: a receiver whose 10-bit week number rolled over
    // without it knowing (april6_2019.log: 1999-08-22 after 2019-04-06) is a
    // whole number of 1024 weeks early. Without evidence nothing says how
    // many, or whether the date is a rollover at all (the day before the
    // floor would become 2046; gpsd's rst39 says 2014-02-19 in 2026, which
    // would become 2033).
    if (!evidence_day_) {
        v.problem = DateProblem::before_floor_no_evidence;
        return v;
    }
    // The step count that lands nearest the evidence, at least one.
    const std::int64_t steps = std::max<std::int64_t>(
        1, (*evidence_day_ - day + gps_rollover_days / 2) / gps_rollover_days);
    const std::int64_t repaired = day + steps * gps_rollover_days;
    const std::int64_t distance =
        repaired > *evidence_day_ ? repaired - *evidence_day_ : *evidence_day_ - repaired;
    if (distance > evidence_days || repaired < floor_day_ || repaired > last) {
        v.problem = DateProblem::no_agreeing_rollover;
        return v;
    }
    v.day = repaired;
    v.repaired = true;
    return v;
}

void Parser::reset() noexcept {
    framing_ = Framing::between_lines;
    line_length_ = 0;
    carried_.reset();
    fix_.reset();
}

const Sentence* Parser::push(char byte) noexcept {
    const std::uint64_t here = position_++;
    // '$' (and '!' for encapsulated sentences) always starts a sentence:
    // NMEA reserves it, and a receiver that dropped bytes (a UART overrun,
    // gp-320fw-2019-04-07-coldboot.log) must not take the next sentence with
    // the truncated one.
    if (byte == '$' || byte == '!') {
        if (framing_ == Framing::in_sentence) {
            ++counters_.garbage;
        }
        framing_ = Framing::in_sentence;
        line_[0] = byte;
        line_length_ = 1;
        line_begin_ = here;
        return nullptr;
    }
    // "\r\n" ends a sentence; a bare '\n' or '\r' does too, and the empty
    // line between the two is nothing.
    if (byte == '\r' || byte == '\n') {
        const Framing was = framing_;
        framing_ = Framing::between_lines;
        return was == Framing::in_sentence ? end_line() : nullptr;
    }
    switch (framing_) {
    case Framing::between_lines:
        // Text that does not start with '$': the tail of a truncated line,
        // noise while the port settles, or a receiver at the wrong baud rate.
        ++counters_.garbage;
        framing_ = Framing::discarding;
        return nullptr;
    case Framing::discarding:
        return nullptr;
    case Framing::in_sentence:
        break;
    }
    const auto code = static_cast<unsigned char>(byte);
    if (code < 0x20 || code > 0x7e) {
        ++counters_.garbage;
        framing_ = Framing::discarding;
        return nullptr;
    }
    if (line_length_ == line_.size()) {
        ++counters_.over_long;
        framing_ = Framing::discarding;
        return nullptr;
    }
    line_[line_length_++] = byte;
    return nullptr;
}

const Sentence* Parser::end_line() noexcept {
    const std::string_view line{line_.data(), line_length_};
    line_length_ = 0;
    return decode_line(line);
}

void Parser::forget_fix() noexcept {
    fix_.reset();
    carried_.reset();
}

const Sentence* Parser::decode_line(std::string_view line) noexcept {
    // $<body>*HH. The checksum is what tells a sentence from line noise, so
    // a line without one is rejected: it may be any fragment at all.
    const std::size_t star = line.find('*');
    if (star == std::string_view::npos || line.size() - star != 3) {
        ++counters_.bad_checksum;
        return nullptr;
    }
    const int high = hex_digit(line[star + 1]);
    const int low = hex_digit(line[star + 2]);
    const std::string_view body = line.substr(1, star - 1);
    unsigned checksum = 0;
    for (const char c : body) {
        checksum ^= static_cast<unsigned char>(c);
    }
    if (high < 0 || low < 0 || checksum != static_cast<unsigned>(high * 16 + low)) {
        ++counters_.bad_checksum;
        return nullptr;
    }

    const Fields fields{body};
    const std::string_view address = fields[0];
    // Proprietary sentences start with 'P' ($PGRME, $PMTK, $PSTMCPU...); a
    // standard address is a 2-letter talker and a 3-letter formatter.
    const bool standard = line[0] == '$' && address.size() == 5 && address[0] != 'P' &&
                          std::all_of(address.begin(), address.end(), is_upper);
    const auto layout = std::find_if(layouts.begin(), layouts.end(), [&](const Layout& candidate) {
        return standard && candidate.formatter == address.substr(2);
    });
    if (layout == layouts.end()) {
        ++counters_.unsupported;
        return nullptr;
    }

    const auto reject = [this]() -> const Sentence* {
        // A sentence we cannot read says nothing about the fix either, so
        // nothing carried from before it may vouch for what follows.
        ++counters_.malformed;
        forget_fix();
        return nullptr;
    };
    if (fields.count() < layout->required_fields) {
        return reject();
    }

    TimeOfDay time;
    const Field time_field = parse_time_of_day(fields[layout->time_field], time);
    if (time_field == Field::bad) {
        return reject();
    }
    const bool has_time = time_field == Field::ok;

    // The sentence's own date: RMC ddmmyy, ZDA dd,mm,yyyy.
    int year = 0;
    int month = 0;
    int day_of_month = 0;
    Field date_field = Field::empty;
    if (layout->type == SentenceType::rmc) {
        const std::string_view ddmmyy = fields[9];
        if (!ddmmyy.empty()) {
            date_field = Field::bad;
            if (ddmmyy.size() == 6 && all_digits(ddmmyy)) {
                day_of_month = number(ddmmyy.substr(0, 2));
                month = number(ddmmyy.substr(2, 2));
                // RMC's year has two digits: the century is the one that
                // puts it within 50 years of the floor's year.
                const int base = floor_year_ - 50;
                year = base + ((number(ddmmyy.substr(4, 2)) - base) % 100 + 100) % 100;
                date_field = Field::ok;
            }
        }
    } else if (layout->type == SentenceType::zda) {
        const std::string_view dd = fields[2];
        const std::string_view mm = fields[3];
        const std::string_view yyyy = fields[4];
        if (!dd.empty() || !mm.empty() || !yyyy.empty()) {
            date_field = Field::bad;
            if (dd.size() == 2 && mm.size() == 2 && yyyy.size() == 4 && all_digits(dd) &&
                all_digits(mm) && all_digits(yyyy)) {
                day_of_month = number(dd);
                month = number(mm);
                year = number(yyyy);
                date_field = Field::ok;
            }
        }
    }
    std::optional<std::int64_t> day;
    bool repaired = false;
    DateProblem date_problem = DateProblem::none;
    if (date_field == Field::ok) {
        const year_month_day date{std::chrono::year{year},
                                  std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day_of_month)}};
        if (!date.ok() || day_number(date) < gps_epoch_day) {
            return reject();
        }
        const DateVerdict verdict = judge_date(day_number(date));
        day = verdict.day;
        repaired = verdict.repaired;
        date_problem = verdict.problem;
    } else if (date_field == Field::bad) {
        return reject();
    }

    FixReport fix;
    switch (layout->type) {
    case SentenceType::rmc:
        fix = rmc_or_gll_fix(fields[2], fields[12]);
        break;
    case SentenceType::gll:
        fix = rmc_or_gll_fix(fields[6], fields[7]);
        break;
    case SentenceType::gga:
        fix = gga_fix(fields[6], fields[7]);
        break;
    case SentenceType::gns:
        fix = gns_fix(fields[6], fields[7]);
        break;
    case SentenceType::zda:
    case SentenceType::ubx: // not an NMEA layout
        break;
    }
    // NMEA 4.1 added a navigational status field (RMC 13, GNS 13). u-blox
    // and Furuno fill it with 'V', "equipment does not provide navigational
    // status", which says nothing against the fix: it is not read.
    if (fix.field == Field::bad) {
        return reject();
    }

    const std::int32_t second = has_time ? second_of_day(time) : 0;
    DateSource source = day ? DateSource::sentence : DateSource::none;
    if (!day && has_time && carried_) {
        // GGA, GLL and GNS carry only the time of day: put it on the carried
        // date, moved a day on (or back) when the time of day went round
        // midnight since the date was last confirmed. Within 12 h either way
        // is the only reading that does not skip a day.
        std::int64_t carried_day = carried_->day;
        if (second < carried_->second - half_day) {
            ++carried_day;
        } else if (second > carried_->second + half_day) {
            --carried_day;
        }
        day = carried_day;
        repaired = carried_->repaired;
        source = DateSource::carried;
    }
    if (has_time && time.second == 60 && day && !last_day_of_month(*day)) {
        // UTC inserts leap seconds only at the end of a month.
        return reject();
    }

    Sentence& sentence = sentence_;
    sentence = Sentence{};
    sentence.type = layout->type;
    std::copy(address.begin(), address.end(), sentence.address.begin());
    sentence.stream_begin = line_begin_;
    sentence.stream_end = position_;
    if (has_time) {
        sentence.time = time;
    }
    sentence.date = source;
    sentence.date_repaired = day && repaired;
    sentence.date_problem = date_problem;
    if (has_time && day) {
        timespec utc{};
        // 23:59:60 reads as 23:59:59 again; see Sentence::utc.
        utc.tv_sec =
            static_cast<time_t>(*day * seconds_per_day + std::min(second, day_seconds - 1));
        utc.tv_nsec = static_cast<long>(time.nanosecond);
        sentence.utc = utc;
        sentence.leap_second = time.second == 60;
    }

    // What the sentence says about the fix comes first: "$GPRMC,,V,..." is a
    // receiver without a fix more than it is a sentence without a time.
    InvalidReason reason = fix.reason;
    if (reason == InvalidReason::none && !has_time) {
        reason = InvalidReason::no_time;
    } else if (layout->type == SentenceType::zda) {
        // ZDA has no status of its own, yet receivers keep sending it from
        // their clock while they have no fix (hemi.log, ublox-lea-4h.log). It
        // counts only when a fix was reported for within 2 s of it: the
        // cycle's RMC/GGA/GLL/GNS may come before or after it, and some
        // receivers report every other second (magellan-ec10.log).
        const bool recent_fix =
            fix_ && fix_->valid && distance_round_the_clock(fix_->second, second) <= 2;
        reason = recent_fix ? InvalidReason::none : InvalidReason::no_recent_fix;
    }
    if (reason == InvalidReason::none && !sentence.utc) {
        reason = InvalidReason::no_date;
    }
    if (date_problem != DateProblem::none) {
        // Its time cannot be published, and its date is not carried to the
        // GGA/GLL/GNS that follow. What it says about the fix (status V)
        // still counts first.
        ++counters_.implausible_date;
        if (reason == InvalidReason::none) {
            reason = InvalidReason::implausible_date;
        }
    }
    sentence.reason = reason;
    sentence.valid = reason == InvalidReason::none;

    if (layout->type != SentenceType::zda) {
        const bool fix_valid = has_time && fix.reason == InvalidReason::none;
        fix_ = FixStatus{fix_valid, second};
        if (!fix_valid) {
            // The carried date is only as good as the unbroken run of fixes
            // that carried it: after a gap of unknown length (an outage may
            // last days) the 12 h rule could land on the wrong day.
            carried_.reset();
        }
    }
    if (sentence.valid) {
        carried_ = CarriedDate{*day, second, repaired};
    }
    ++counters_.sentences;
    return &sentence;
}

void Cycle::add(const Sentence& sentence) noexcept {
    switch (sentence.reason) {
    case InvalidReason::status_void:
    case InvalidReason::no_fix:
    case InvalidReason::not_gnss:
        no_fix_reported_ = true;
        break;
    case InvalidReason::none:
        if (!first_valid_ ||
            (sentence.type == SentenceType::ubx && first_valid_->type != SentenceType::ubx)) {
            first_valid_ = sentence;
        }
        break;
    case InvalidReason::leap_unknown:
        if (!leap_unknown_) {
            leap_unknown_ = sentence;
        }
        break;
    case InvalidReason::no_satellites:
    case InvalidReason::no_time:
    case InvalidReason::no_recent_fix:
    case InvalidReason::no_date:
        // Nothing against the fix: ZDA and GGA before the cycle's RMC, say.
        break;
    case InvalidReason::implausible_date:
        if (!implausible_date_) {
            implausible_date_ = sentence;
        }
        break;
    }
}

const Sentence* Cycle::time() const noexcept {
    return first_valid_ && !no_fix_reported_ && !leap_unknown_ ? &*first_valid_ : nullptr;
}

void Cycle::clear() noexcept {
    first_valid_.reset();
    implausible_date_.reset();
    leap_unknown_.reset();
    no_fix_reported_ = false;
}

std::string_view to_string(SentenceType type) noexcept {
    switch (type) {
    case SentenceType::rmc:
        return "RMC";
    case SentenceType::zda:
        return "ZDA";
    case SentenceType::gga:
        return "GGA";
    case SentenceType::gll:
        return "GLL";
    case SentenceType::gns:
        return "GNS";
    case SentenceType::ubx:
        return "UBX";
    }
    return "?";
}

std::string_view to_string(InvalidReason reason) noexcept {
    switch (reason) {
    case InvalidReason::none:
        return "valid";
    case InvalidReason::no_time:
        return "no time of day";
    case InvalidReason::status_void:
        return "status not A";
    case InvalidReason::no_fix:
        return "no fix";
    case InvalidReason::not_gnss:
        return "manual or simulated";
    case InvalidReason::no_satellites:
        return "0 satellites used";
    case InvalidReason::no_recent_fix:
        return "no fix reported within 2 s";
    case InvalidReason::no_date:
        return "no date yet";
    case InvalidReason::implausible_date:
        return "date not plausible";
    case InvalidReason::leap_unknown:
        return "leap-second count not yet known to the receiver";
    }
    return "?";
}

std::string_view to_string(DateProblem problem) noexcept {
    switch (problem) {
    case DateProblem::none:
        return "plausible";
    case DateProblem::before_floor_no_evidence:
        return "before the floor date, and the system clock is not past the floor: no evidence "
               "to repair it by";
    case DateProblem::no_agreeing_rollover:
        return "before the floor date, and no 1024-week rollover step brings it within a year "
               "of the system clock";
    case DateProblem::too_late:
        return "more than 1024 weeks after the floor date and a year after the system clock";
    }
    return "?";
}

} // namespace shmrefclock::nmea
