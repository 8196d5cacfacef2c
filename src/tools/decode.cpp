#include "tools/decode.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/nmea_core.hpp"
#include "core/nmea_parser.hpp"
#include "core/nmea_replay.hpp"
#include "core/time_format.hpp"
#include "core/ubx_epoch.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"

namespace shmrefclock {
namespace {

constexpr std::size_t max_capture = 64u << 20;
// Synthetic timing: the capture's seconds are kept apart as they are, up to
// this; a larger step (or one backwards) becomes 1 s.
constexpr std::int64_t max_synthetic_step_s = 600;
// The NAV messages read here, which begin with iTOW, the GPS time of week
// of their navigation epoch (ms). Not every NAV message does: NAV-HPPOSECEF
// begins with a version byte (ublox-zed-f9p-hp.log).
bool keyed_by_itow(const ubx::Item& frame) {
    for (const ubx::MessageType type :
         {ubx::nav_pvt, ubx::nav_timeutc, ubx::nav_timegps, ubx::nav_timels}) {
        if (ubx::is(type, frame.message_class, frame.message_id)) {
            return true;
        }
    }
    return false;
}

struct Line {
    std::string_view text;             // with its terminator, if it had one
    std::optional<std::int64_t> at_ns; // its timestamp, in a timed capture
};

// "1764590401.123456 " -> nanoseconds, and the rest of the line.
std::optional<std::int64_t> leading_time(std::string_view& line) {
    const std::size_t blank = line.find(' ');
    if (blank == std::string_view::npos || blank == 0) {
        return std::nullopt;
    }
    const std::string_view number = line.substr(0, blank);
    const std::size_t dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
    if (ec != std::errc{} || end != whole.data() + whole.size() || whole.size() > 12 ||
        fraction.size() > 9 || fraction.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    std::int64_t ns = 0;
    for (std::size_t i = 0; i < 9; ++i) {
        ns = ns * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
    }
    line.remove_prefix(blank + 1);
    return seconds * ns_per_s + ns;
}

// The capture's lines without gpsd's '#' metadata; timed if every line is.
std::vector<Line> split_lines(std::string_view capture) {
    std::vector<Line> lines;
    bool timed = true;
    while (!capture.empty()) {
        const std::size_t newline = capture.find('\n');
        const std::size_t length = newline == std::string_view::npos ? capture.size() : newline + 1;
        const std::string_view text = capture.substr(0, length);
        capture.remove_prefix(length);
        if (text.front() == '#' || text == "\n" || text == "\r\n") {
            continue;
        }
        Line line{text, std::nullopt};
        std::string_view rest = text;
        line.at_ns = leading_time(rest);
        if (line.at_ns) {
            line.text = rest;
        } else {
            timed = false;
        }
        lines.push_back(line);
    }
    if (!timed) {
        for (Line& line : lines) {
            line.at_ns.reset(); // the numbers were part of the data after all
        }
    }
    return lines;
}

// The capture without gpsd's leading '#' metadata lines: a binary capture's
// other '#' bytes are data.
std::string_view without_header(std::string_view capture) {
    while (!capture.empty() && capture.front() == '#') {
        const std::size_t newline = capture.find('\n');
        capture.remove_prefix(newline == std::string_view::npos ? capture.size() : newline + 1);
    }
    return capture;
}

// Whether the capture holds UBX frames (a right checksum: not 0xB5 0x62 of
// noise in a text capture).
bool holds_ubx(std::string_view body) {
    ubx::Framer framer;
    (void)framer.feed(body);
    (void)framer.finish();
    return framer.counters().good + framer.counters().unknown > 0;
}

// A piece of a binary capture as the synthetic timing sees it: a UBX frame
// or a line of the other bytes, and the time it names, by kind: a NAV
// message's iTOW, TIM-TP's pulse, an NMEA sentence's time of day (ns).
struct Piece {
    std::string bytes;
    enum class Family : std::uint8_t { none, nav, pulse, nmea } family = Family::none;
    std::int64_t key_ns = 0;
    std::optional<timespec> utc; // a UTC the piece names, for the receive stamps
};

class Decoder {
public:
    Decoder(std::ostream& out, const DecodeOptions& options) : out_(out), options_(options) {}

    void run(std::string_view capture) {
        capture_ = capture;
        ByteSchedule schedule;
        ReplayOptions replay_options;
        const std::int64_t byte_ns = byte_time_ns(options_.baud);
        // The device is opened at 0; the first cycle comes a second later,
        // after a quiet line (nmea_core.hpp: stamps need one).
        const std::int64_t first_ns = ns_per_s;
        const std::string_view body = without_header(capture);
        const bool binary = holds_ubx(body);
        const std::vector<Line> lines = binary ? std::vector<Line>{} : split_lines(capture);
        if (binary) {
            epochs(body, schedule, replay_options, byte_ns, first_ns);
        } else if (!lines.empty() && lines.front().at_ns) {
            const std::int64_t origin = *lines.front().at_ns - first_ns;
            replay_options.realtime_epoch = timespec_add(timespec{}, origin);
            for (const Line& line : lines) {
                send(schedule, *line.at_ns - origin, with_newline(line.text), byte_ns);
            }
        } else {
            synthetic(lines, schedule, replay_options, byte_ns, first_ns);
        }

        NmeaSettings settings{"capture", options_.baud, options_.min_fixes, options_.not_before};
        // Not each cycle's replayed stamp: those come from the capture's
        // own dates (synthetic timing), which would vouch for themselves.
        settings.stamps_are_evidence = false;
        settings.system_clock = options_.system_clock;
        NmeaCore core(settings);
        core.on_cycle([this](const CycleOutcome& outcome) { write(outcome); });
        replay(core, schedule, replay_options);

        if (options_.summary != nullptr) {
            hint(*options_.summary);
            const nmea::Counters& counters = core.counters();
            *options_.summary << fmt::format(
                "decode: {} cycles, {} published; {} sentences, {} bad checksum, {} malformed, "
                "{} garbage, {} over-long, {} unsupported, {} implausible dates{}\n",
                cycles_, published_, counters.sentences, counters.bad_checksum, counters.malformed,
                counters.garbage, counters.over_long, counters.unsupported,
                counters.implausible_date,
                core.disagreeing_cycles() == 0
                    ? std::string()
                    : fmt::format("; {} cycles whose sentences name different seconds",
                                  core.disagreeing_cycles()));
            if (binary) {
                const ubx::FrameCounters& frames = core.frame_counters();
                *options_.summary << fmt::format(
                    "decode: UBX frames: {} timing, {} other, {} bad checksum, {} over-long, {} "
                    "truncated, {} malformed; leap-second count {} at the end\n",
                    frames.good, frames.unknown, frames.bad_checksum, frames.over_long,
                    frames.truncated, core.ubx_malformed(), ubx::to_string(core.leap_count()));
            }
        }
    }

private:
    std::string with_newline(std::string_view text) {
        std::string bytes(text);
        if (bytes.empty() || bytes.back() != '\n') {
            bytes += "\r\n"; // a last line without its terminator is still whole
        }
        return bytes;
    }

    // A cycle per new time a time-bearing sentence names, or per repeat of
    // a sentence type (a receiver sends each once a cycle, also while it
    // has no time to report), each sent at its own time: whole seconds
    // apart for a 1 Hz receiver, 0.5 s for a 2 Hz one (issue 23: a 2 Hz
    // capture sent its .5 and whole-second cycles 1 s apart, and the whole
    // second looked off the timeline).
    void synthetic(const std::vector<Line>& lines, ByteSchedule& schedule,
                   ReplayOptions& replay_options, std::int64_t byte_ns, std::int64_t first_ns) {
        nmea::Parser parser{options_.not_before};
        parser.set_system_clock(options_.system_clock);
        constexpr std::int64_t day_ns = seconds_per_day * ns_per_s;
        std::int64_t cycle_time = -1;             // time of day named, ns; -1: none yet
        std::vector<std::string> cycle_addresses; // time-bearing sentences seen
        std::int64_t slot = first_ns;
        bool epoch_set = false;
        for (const Line& line : lines) {
            const std::string bytes = with_newline(line.text);
            std::optional<nmea::Sentence> sentence;
            parser.feed(bytes, [&](const nmea::Sentence& s) { sentence = s; });
            if (sentence) {
                const std::string address(sentence->name());
                const bool repeated = std::find(cycle_addresses.begin(), cycle_addresses.end(),
                                                address) != cycle_addresses.end();
                std::int64_t time = -1;
                if (sentence->time) {
                    time = (sentence->time->hour * 3600 + sentence->time->minute * 60 +
                            sentence->time->second) *
                               ns_per_s +
                           sentence->time->nanosecond;
                }
                const std::int64_t step_ns =
                    time >= 0 && cycle_time >= 0 ? (time - cycle_time + day_ns) % day_ns : 0;
                // A sentence already sent in this cycle starts a new one,
                // unless it names the cycle's own time (some receivers
                // repeat a sentence within a cycle).
                if (step_ns != 0 || (repeated && !(time >= 0 && time == cycle_time))) {
                    const std::int64_t step =
                        step_ns < 1 || step_ns > max_synthetic_step_s * ns_per_s ? ns_per_s
                                                                                 : step_ns;
                    slot += step;
                    cycle_addresses.clear();
                    cycle_time = -1;
                }
                cycle_addresses.push_back(address);
                if (time >= 0) {
                    cycle_time = time;
                }
                if (!epoch_set && sentence->utc) {
                    // Receive stamps at the instants the capture names.
                    replay_options.realtime_epoch = timespec_add(*sentence->utc, -slot);
                    epoch_set = true;
                }
            }
            send(schedule, slot, bytes, byte_ns);
        }
    }

    // A capture with UBX frames (binary, so not split at its newlines): a
    // cycle per navigation epoch, which begins with the first frame or
    // sentence naming a time other than the epoch's own of the same kind
    // (a NAV message's iTOW, TIM-TP's pulse, an NMEA time of day); frames
    // and lines that name none stay in the epoch they follow. Each epoch is
    // sent as far from the last as the times that began it are apart
    // (1 s when that is not a step of up to 10 minutes forwards).
    void epochs(std::string_view body, ByteSchedule& schedule, ReplayOptions& replay_options,
                std::int64_t byte_ns, std::int64_t first_ns) {
        const std::vector<Piece> pieces = split_pieces(body);
        std::array<std::optional<std::int64_t>, 4> current{}; // by Piece::Family
        std::int64_t slot = first_ns;
        bool epoch_set = false;
        for (const Piece& piece : pieces) {
            const auto family = static_cast<std::size_t>(piece.family);
            if (piece.family != Piece::Family::none) {
                if (current.at(family) && *current.at(family) != piece.key_ns) {
                    const std::int64_t step_ns = piece.key_ns - *current.at(family);
                    slot += step_ns < 1 || step_ns > max_synthetic_step_s * ns_per_s ? ns_per_s
                                                                                     : step_ns;
                    current = {};
                }
                current.at(family) = piece.key_ns;
            }
            if (!epoch_set && piece.utc) {
                replay_options.realtime_epoch = timespec_add(*piece.utc, -slot);
                epoch_set = true;
            }
            send(schedule, slot, piece.bytes, byte_ns);
        }
    }

    std::vector<Piece> split_pieces(std::string_view body) const {
        std::vector<Piece> pieces;
        ubx::Framer framer;
        nmea::Parser parser{options_.not_before};
        parser.set_system_clock(options_.system_clock);
        auto add = [&](const ubx::Item& item) {
            if (item.kind == ubx::Item::Kind::frame) {
                pieces.push_back(frame_piece(item));
                return;
            }
            std::string_view text = item.text();
            while (!text.empty()) {
                const std::size_t newline = text.find('\n');
                const std::size_t length =
                    newline == std::string_view::npos ? text.size() : newline + 1;
                Piece piece;
                piece.bytes = std::string(text.substr(0, length));
                text.remove_prefix(length);
                parser.feed(piece.bytes, [&](const nmea::Sentence& sentence) {
                    if (sentence.time) {
                        piece.family = Piece::Family::nmea;
                        piece.key_ns = (sentence.time->hour * 3600 + sentence.time->minute * 60 +
                                        sentence.time->second) *
                                           ns_per_s +
                                       sentence.time->nanosecond;
                        piece.utc = sentence.utc;
                    }
                });
                pieces.push_back(std::move(piece));
            }
        };
        for (const ubx::Item& item : framer.feed(body)) {
            add(item);
        }
        for (const ubx::Item& item : framer.finish()) {
            add(item);
        }
        return pieces;
    }

    static Piece frame_piece(const ubx::Item& frame) {
        Piece piece;
        // The frame as it was on the line: sync, class, id, length,
        // payload, checksum.
        const std::size_t length = frame.bytes.size();
        std::vector<std::uint8_t> body{frame.message_class, frame.message_id,
                                       static_cast<std::uint8_t>(length & 0xFF),
                                       static_cast<std::uint8_t>(length >> 8)};
        body.insert(body.end(), frame.bytes.begin(), frame.bytes.end());
        const ubx::Checksum sum = ubx::checksum(body);
        piece.bytes.push_back(static_cast<char>(ubx::sync_char_1));
        piece.bytes.push_back(static_cast<char>(ubx::sync_char_2));
        piece.bytes.append(reinterpret_cast<const char*>(body.data()), body.size());
        piece.bytes.push_back(static_cast<char>(sum.a));
        piece.bytes.push_back(static_cast<char>(sum.b));
        const ubx::Payload payload{frame.bytes};
        if (keyed_by_itow(frame) && length >= 4) {
            // iTOW (ms) at its start.
            piece.family = Piece::Family::nav;
            piece.key_ns = std::int64_t{payload[0]} | std::int64_t{payload[1]} << 8 |
                           std::int64_t{payload[2]} << 16 | std::int64_t{payload[3]} << 24;
            piece.key_ns *= 1'000'000;
        }
        if (ubx::is(ubx::tim_tp, frame.message_class, frame.message_id)) {
            if (const auto tp = ubx::decode_tim_tp(payload)) {
                piece.family = Piece::Family::pulse;
                piece.key_ns = ubx::pulse_time(*tp).tow_ns;
            }
        }
        piece.utc = utc_of(frame);
        return piece;
    }

    // The UTC a frame names, valid or not: only to put the replay's
    // receive stamps near the capture's own time.
    static std::optional<timespec> utc_of(const ubx::Item& frame) {
        const ubx::Payload payload{frame.bytes};
        std::optional<ubx::UtcDateTime> utc;
        if (ubx::is(ubx::nav_timeutc, frame.message_class, frame.message_id)) {
            if (const auto m = ubx::decode_nav_timeutc(payload)) {
                utc = m->utc;
            }
        } else if (ubx::is(ubx::nav_pvt, frame.message_class, frame.message_id)) {
            if (const auto m = ubx::decode_nav_pvt(payload)) {
                utc = m->utc;
            }
        } else if (ubx::is(ubx::nav_timegps, frame.message_class, frame.message_id)) {
            if (const auto m = ubx::decode_nav_timegps(payload)) {
                if (const auto gps = ubx::gps_time(*m)) {
                    return timespec{
                        static_cast<time_t>(ubx::gps_posix_offset + gps->seconds - m->leap_s),
                        static_cast<long>(gps->millisecond) * 1'000'000};
                }
            }
        }
        if (!utc) {
            return std::nullopt;
        }
        const auto time = ubx::epoch_time(*utc);
        if (!time) {
            return std::nullopt;
        }
        return timespec{static_cast<time_t>(time->posix_seconds),
                        static_cast<long>(time->millisecond) * 1'000'000};
    }

    // Every write goes through here, to see whether the line could carry
    // the capture: a receiver at 38400 Bd replayed at the default 9600
    // queues each cycle behind the last, and every cycle then looks like
    // sentences naming different seconds (issue 23). Said once, at the end.
    void send(ByteSchedule& schedule, std::int64_t start_ns, std::string_view bytes,
              std::int64_t byte_ns) {
        if (start_ns != line_.last_start_ns) {
            // Lines written at one instant (a synthetic cycle's) queue
            // behind each other by design; a later write waiting for them
            // is a line too slow.
            line_.longest_queue_ns = std::max(line_.longest_queue_ns, line_.free_ns - start_ns);
            line_.last_start_ns = start_ns;
        }
        line_.free_ns = schedule.write(start_ns, bytes, byte_ns);
        const std::int64_t second = start_ns / ns_per_s;
        if (second != line_.second) {
            line_.second = second;
            line_.second_bytes = 0;
        }
        line_.second_bytes += bytes.size();
        line_.busiest_second_bytes = std::max(line_.busiest_second_bytes, line_.second_bytes);
    }

    // The lowest standard rate above `above` that carries the busiest
    // second in 80% of it (a cycle needs a quiet gap before the next), 8N1,
    // and at which the capture replays without queueing and without a cycle
    // whose time came too late after its first byte: a ZED-F9T's UBX and
    // NMEA, 3.5 kB a second, fit 57600 Bd, but there its NAV-TIMEGPS comes
    // 0.5 s after the epoch's first byte and nothing is published (issue
    // 21). Tried by replaying the capture again at each rate, with no
    // summary.
    int rate_for(int above) const {
        std::optional<int> fits;
        for (const int rate : valid_bauds) { // the rates a refclock's `baud` takes
            if (rate <= above ||
                static_cast<double>(line_.busiest_second_bytes) * 10.0 > 0.8 * rate) {
                continue;
            }
            fits = fits.value_or(rate);
            DecodeOptions trial = options_;
            trial.baud = rate;
            trial.summary = nullptr;
            std::ostringstream discarded;
            Decoder decoder(discarded, trial);
            decoder.run(capture_);
            if (decoder.line_.longest_queue_ns <= max_queue_ns && decoder.time_late_cycles_ == 0) {
                return rate;
            }
        }
        return fits.value_or(valid_bauds.back());
    }

    // Hints for a replay that publishes little for a reason of the replay's
    // own, not the receiver's: the line rate, or the date rules' today.
    void hint(std::ostream& summary) const {
        if (line_.longest_queue_ns > max_queue_ns) {
            summary << fmt::format(
                "decode: the capture does not fit the line at {} Bd: its busiest second holds {} "
                "bytes, and each cycle queued behind the last (up to {:.1f} s), so cycles run "
                "together; replay it at its receiver's rate, e.g. --baud {}\n",
                options_.baud, line_.busiest_second_bytes,
                static_cast<double>(line_.longest_queue_ns) / ns_per_s, rate_for(0));
        } else if (time_late_cycles_ > 0 && published_ == 0 && options_.baud < valid_bauds.back()) {
            // The line carries each second, but what the receiver sends
            // before its time takes more than half of it: the daemon at this
            // rate would refuse every cycle too (NmeaCore::max_time_lead_ns).
            summary << fmt::format(
                "decode: at {} Bd the time of {} cycles came more than {:.1f} s after the cycle's "
                "first byte, behind the messages sent before it; a receiver sending these at this "
                "rate is never published: raise its rate or send fewer messages (replay with e.g. "
                "--baud {})\n",
                options_.baud, time_late_cycles_,
                static_cast<double>(NmeaCore::max_time_lead_ns) / ns_per_s,
                rate_for(options_.baud));
        }
        if (first_refused_date_ && dated_cycles_ > 0 && date_refused_cycles_ == dated_cycles_) {
            summary << fmt::format(
                "decode: every date in the capture is implausible against the date rules' today "
                "({}) and floor (--not-before {}); to replay a capture as it was taken (its first "
                "date is {}), give its day to both: --now {} --not-before {}\n",
                options_.system_clock ? format_date(*options_.system_clock) : std::string("none"),
                format_date(options_.not_before), *first_refused_date_, *first_refused_date_,
                *first_refused_date_);
        }
    }

    void write(const CycleOutcome& outcome) {
        ++cycles_;
        time_late_cycles_ += outcome.kind == CycleOutcome::Kind::time_late ? 1 : 0;
        const bool published = outcome.kind == CycleOutcome::Kind::published;
        published_ += published ? 1 : 0;
        const nmea::Sentence* time = outcome.time ? &*outcome.time : nullptr;
        if (time && time->utc) {
            ++dated_cycles_;
            // Whatever the cycle's outcome (it may also disagree), its date
            // was refused.
            if (time->date_problem != nmea::DateProblem::none) {
                ++date_refused_cycles_;
                if (!first_refused_date_) {
                    first_refused_date_ = format_date(time->utc->tv_sec);
                }
            }
        }
        const std::string when =
            time && time->utc ? format_utc(*time->utc, 3, time->leap_second) : "-";
        const std::string reason = published ? "" : std::string(to_string(outcome.kind));
        std::string line;
        if (options_.json) {
            nlohmann::ordered_json object;
            if (time && time->utc) {
                object["time"] = when;
            }
            if (time) {
                object["sentence"] = time->name();
            }
            object["published"] = published;
            object["receive"] = format_utc(outcome.receive_time);
            if (time && time->date_repaired) {
                object["repaired"] = true;
            }
            if (time && time->leap_second) {
                object["leap_second"] = true;
            }
            if (!published) {
                object["reason"] = reason;
            }
            line = object.dump() + "\n";
        } else {
            line = time ? fmt::format("{} {}", when, time->name()) : "- -";
            if (time && time->date_repaired) {
                line += " repaired";
            }
            if (time && time->leap_second) {
                line += " leap-second";
            }
            line += published ? " published\n" : fmt::format(" refused: {}\n", reason);
        }
        out_ << line;
    }

    static std::string format_date(time_t when) {
        return format_utc(timespec{when, 0}, 0, false).substr(0, 10);
    }
    static std::string format_date(const std::chrono::year_month_day& date) {
        return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()),
                           static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    }

    // A wait of more than this behind the previous writes is a line too
    // slow for the capture; a timed capture's lines, stamped as they were
    // read, may wait a little.
    static constexpr std::int64_t max_queue_ns = ns_per_s / 2;

    std::ostream& out_;
    const DecodeOptions& options_;
    std::string_view capture_; // run()'s, for rate_for's trials
    std::uint64_t cycles_ = 0;
    std::uint64_t published_ = 0;
    std::uint64_t time_late_cycles_ = 0;
    std::uint64_t dated_cycles_ = 0;        // cycles whose sentence names a date and time
    std::uint64_t date_refused_cycles_ = 0; // of those, with the date refused
    std::optional<std::string> first_refused_date_;
    struct {
        std::int64_t free_ns = 0; // when the last write's last byte is in
        std::int64_t last_start_ns = -1;
        std::int64_t longest_queue_ns = 0; // the longest wait behind earlier writes
        std::int64_t second = -1;          // the second of the replay being counted
        std::size_t second_bytes = 0;
        std::size_t busiest_second_bytes = 0;
    } line_;
};

} // namespace

int decode_capture(std::istream& in, std::ostream& out, const DecodeOptions& options) {
    std::string capture;
    std::array<char, 65536> block{};
    while (in) {
        in.read(block.data(), static_cast<std::streamsize>(block.size()));
        capture.append(block.data(), static_cast<std::size_t>(in.gcount()));
        if (capture.size() > max_capture) {
            if (options.summary != nullptr) {
                *options.summary << "decode: the capture is larger than 64 MiB\n";
            }
            return 3;
        }
    }
    if (in.bad()) {
        return 3;
    }
    Decoder(out, options).run(capture);
    return 0;
}

} // namespace shmrefclock
