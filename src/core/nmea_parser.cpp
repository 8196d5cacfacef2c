#include "core/nmea_parser.hpp"

#include "shmrefclock/sample.hpp"

#include <algorithm>

namespace shmrefclock::nmea {
namespace {

using std::chrono::sys_days;
using std::chrono::year_month_day;

// The parser works in 32-bit seconds of the day.
constexpr auto day_seconds = static_cast<std::int32_t>(seconds_per_day);
constexpr std::int32_t half_day = day_seconds / 2;

constexpr std::int64_t day_number(year_month_day date) noexcept {
    return sys_days{date}.time_since_epoch().count();
}

year_month_day civil(std::int64_t day) noexcept {
    return year_month_day{sys_days{std::chrono::days{day}}};
}

// GPS time starts on 1980-01-06. A receiver that lost any number of 1024-week
// rollovers still reports a date on or after it, so an earlier date is
// garbage, not something to repair.
constexpr std::int64_t gps_epoch_day =
    day_number(std::chrono::year{1980} / std::chrono::January / std::chrono::day{6});

// Whether a field is there, and if so whether it made sense.
enum class Field : std::uint8_t { empty, ok, bad };

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(), is_digit);
}

// Precondition: all_digits(text) and text.size() <= 4.
int number(std::string_view text) noexcept {
    int value = 0;
    for (const char c : text) {
        value = value * 10 + (c - '0');
    }
    return value;
}

int hex_digit(char c) noexcept {
    if (is_digit(c)) {
        return c - '0';
    }
    // Upper case is the standard; the Magellan EC-10X sends lower case.
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool is_upper(char c) noexcept {
    return c >= 'A' && c <= 'Z';
}

// The comma-separated fields of a sentence body; field 0 is the address.
// Missing trailing fields read as empty.
class Fields {
public:
    explicit Fields(std::string_view body) noexcept {
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = body.find(',', start);
            const std::string_view field = body.substr(
                start, comma == std::string_view::npos ? body.size() - start : comma - start);
            if (count_ < stored_.size()) {
                stored_[count_] = field;
            }
            ++count_;
            if (comma == std::string_view::npos) {
                break;
            }
            start = comma + 1;
        }
    }
    std::size_t count() const noexcept { return count_; }
    std::string_view operator[](std::size_t index) const noexcept {
        return index < count_ && index < stored_.size() ? stored_[index] : std::string_view{};
    }

private:
    // More than any field this parser reads (RMC's mode indicator is field 12).
    std::array<std::string_view, 16> stored_{};
    std::size_t count_ = 0;
};

// hhmmss[.f...]: receivers send anything from no fraction (Garmin, TomTom)
// to 2 or 3 digits (u-blox, SiRF) to more (Trimble RTK); all are kept to the
// nanosecond. 60 seconds is accepted only at 23:59, where UTC inserts leap
// seconds.
Field parse_time_of_day(std::string_view text, TimeOfDay& time) noexcept {
    if (text.empty()) {
        return Field::empty;
    }
    if (text.size() < 6 || !all_digits(text.substr(0, 6))) {
        return Field::bad;
    }
    std::uint32_t nanosecond = 0;
    if (text.size() > 6) {
        const std::string_view fraction = text.substr(7);
        if (text[6] != '.' || !all_digits(fraction)) {
            return Field::bad;
        }
        for (std::size_t i = 0; i < 9; ++i) {
            nanosecond = nanosecond * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
        }
    }
    time.hour = number(text.substr(0, 2));
    time.minute = number(text.substr(2, 2));
    time.second = number(text.substr(4, 2));
    time.nanosecond = nanosecond;
    if (time.hour > 23 || time.minute > 59 || time.second > 60) {
        return Field::bad;
    }
    if (time.second == 60 && (time.hour != 23 || time.minute != 59)) {
        return Field::bad;
    }
    return Field::ok;
}

std::int32_t second_of_day(const TimeOfDay& time) noexcept {
    return time.hour * 3600 + time.minute * 60 + time.second;
}

// How far apart two seconds of the day are, going round midnight.
std::int32_t distance_round_the_clock(std::int32_t a, std::int32_t b) noexcept {
    const std::int32_t apart = a > b ? a - b : b - a;
    return std::min(apart, day_seconds - apart);
}

bool last_day_of_month(std::int64_t day) noexcept {
    return civil(day + 1).day() == std::chrono::day{1};
}

// A mode indicator character (NMEA 2.3+ RMC/GLL field, one per constellation
// in GNS). 'E' (dead reckoning) still keeps time from a receiver that had a
// fix; 'M' and 'S' are times someone typed in or a simulator made up.
InvalidReason mode_indicator(char mode) noexcept {
    switch (mode) {
    case 'A': // autonomous
    case 'D': // differential
    case 'E': // estimated (dead reckoning)
    case 'F': // RTK float
    case 'R': // RTK fixed
    case 'P': // precise
        return InvalidReason::none;
    case 'M': // manual input
    case 'S': // simulator
        return InvalidReason::not_gnss;
    default: // 'N' data not valid, and anything we cannot vouch for
        return InvalidReason::no_fix;
    }
}

// A sentence's own statement about its fix.
struct FixReport {
    Field field = Field::ok;
    InvalidReason reason = InvalidReason::none;
};

FixReport rmc_or_gll_fix(std::string_view status, std::string_view mode) noexcept {
    if (status != "A") {
        return {Field::ok, InvalidReason::status_void};
    }
    // The mode field is absent before NMEA 2.3 (SiRF, TomTom, Meinberg).
    if (!mode.empty()) {
        return {Field::ok, mode_indicator(mode[0])};
    }
    return {};
}

// Quality 1 with "00" satellites used: the Hemisphere in hemi.log and the
// SiRF in haicom-305N.log say so for seconds while acquiring, and gpsd calls
// it no fix. But the Furuno GT-88 (furuno_gl_ga.log) counts only GPS
// satellites here and sends "00" with a GLONASS+Galileo fix, so this vouches
// for nothing without vetoing the rest of the cycle.
bool no_satellites_used(std::string_view satellites) noexcept {
    return !satellites.empty() && satellites.size() <= 2 && all_digits(satellites) &&
           number(satellites) == 0;
}

FixReport gga_fix(std::string_view quality, std::string_view satellites) noexcept {
    if (quality.empty()) {
        return {Field::ok, InvalidReason::no_fix};
    }
    if (quality.size() > 2 || !all_digits(quality)) {
        return {Field::bad, InvalidReason::no_fix};
    }
    switch (number(quality)) {
    case 1: // GPS
    case 2: // differential
    case 3: // PPS (precise positioning service)
    case 4: // RTK fixed
    case 5: // RTK float
    case 6: // estimated (dead reckoning)
        break;
    case 7: // manual input
    case 8: // simulator (Garmin demo mode, garmin-geko201.log)
        return {Field::ok, InvalidReason::not_gnss};
    default: // 0: no fix
        return {Field::ok, InvalidReason::no_fix};
    }
    if (no_satellites_used(satellites)) {
        return {Field::ok, InvalidReason::no_satellites};
    }
    return {};
}

// GNS has one mode character per constellation (GPS, GLONASS, Galileo,
// BeiDou, QZSS, NavIC): the time is good if any one of them has a fix.
FixReport gns_fix(std::string_view modes, std::string_view satellites) noexcept {
    InvalidReason reason = InvalidReason::no_fix;
    for (const char mode : modes) {
        const InvalidReason one = mode_indicator(mode);
        if (one == InvalidReason::none) {
            reason = InvalidReason::none;
            break;
        }
        if (one == InvalidReason::not_gnss) {
            reason = one;
        }
    }
    if (reason == InvalidReason::none && no_satellites_used(satellites)) {
        reason = InvalidReason::no_satellites;
    }
    return {Field::ok, reason};
}

struct Layout {
    std::string_view formatter;
    SentenceType type;
    std::size_t time_field;
    // Fields up to the last one read must be there (counting the address as
    // field 0); later optional fields (RMC mode, nav status) may be absent.
    std::size_t required_fields;
};

// NMEA 0183 field positions (after the address field):
//   RMC  1 time, 2 status, 9 ddmmyy, 12 mode (2.3+), 13 nav status (4.1+)
//   GLL  5 time, 6 status, 7 mode (2.3+)
//   GGA  1 time, 6 quality, 7 satellites used
//   GNS  1 time, 6 modes (one per constellation), 7 satellites used, 13 nav status (4.1+)
//   ZDA  1 time, 2 day, 3 month, 4 year, 5-6 local zone (ignored: the time is UTC)
constexpr std::array<Layout, 5> layouts{{
    {"RMC", SentenceType::rmc, 1, 10},
    {"ZDA", SentenceType::zda, 1, 5},
    {"GGA", SentenceType::gga, 1, 7},
    {"GLL", SentenceType::gll, 5, 7},
    {"GNS", SentenceType::gns, 1, 7},
}};

} // namespace

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
        if (!first_valid_) {
            first_valid_ = sentence;
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
    return first_valid_ && !no_fix_reported_ ? &*first_valid_ : nullptr;
}

void Cycle::clear() noexcept {
    first_valid_.reset();
    implausible_date_.reset();
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
