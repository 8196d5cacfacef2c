#include "core/ubx_frame.hpp"

#include <cstring>
#include <utility>

#include "core/ubx_messages.hpp"

namespace shmrefclock::ubx {

Checksum checksum(std::span<const std::uint8_t> bytes) noexcept {
    Checksum sum;
    for (const std::uint8_t byte : bytes) {
        sum.a = static_cast<std::uint8_t>(sum.a + byte);
        sum.b = static_cast<std::uint8_t>(sum.b + sum.a);
    }
    return sum;
}

Framer::Framer() {
    candidate_.reserve(max_frame);
}

std::vector<Item> Framer::feed(std::string_view bytes) {
    return feed(std::span<const std::uint8_t>{reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                              bytes.size()});
}

std::vector<Item> Framer::feed(std::span<const std::uint8_t> bytes) {
    std::vector<Item> out;
    std::size_t next = 0;
    while (next < bytes.size()) {
        if (candidate_.empty() && rescan_.empty()) {
            // Between frames, every byte up to the next sync character is
            // an other byte: handed on as one run, as step() would hand on
            // each (a byte at a time it was a tenth of the daemon's CPU with
            // 16 NMEA receivers at 10 Hz, issue 22).
            const std::span<const std::uint8_t> rest = bytes.subspan(next);
            const auto* sync = static_cast<const std::uint8_t*>(
                std::memchr(rest.data(), sync_char_1, rest.size()));
            const std::size_t length =
                sync != nullptr ? static_cast<std::size_t>(sync - rest.data()) : rest.size();
            if (length > 0) {
                hand_on(rest.first(length), position_, out);
                position_ += length;
                next += length;
                continue;
            }
        }
        run(bytes[next++], out);
    }
    flush_other(out);
    return out;
}

std::vector<Item> Framer::finish() {
    std::vector<Item> out;
    while (!candidate_.empty()) {
        if (candidate_.size() >= 2) {
            // The sync was seen: a frame cut short.
            ++counters_.truncated;
            rescan(out);
            drain(out);
        } else {
            hand_on(candidate_.front(), candidate_begin_, out);
            candidate_.clear();
        }
    }
    flush_other(out);
    return out;
}

void Framer::run(std::uint8_t byte, std::vector<Item>& out) {
    step(byte, position_, out);
    ++position_;
    drain(out);
}

void Framer::drain(std::vector<Item>& out) {
    // step() may refuse a candidate again and put its bytes back in front of
    // the ones still to rescan; each refusal hands on two bytes, so this ends.
    while (rescan_next_ < rescan_.size()) {
        const std::uint64_t at = rescan_begin_ + rescan_next_;
        const std::uint8_t byte = rescan_[rescan_next_++];
        step(byte, at, out);
    }
    rescan_.clear();
    rescan_next_ = 0;
}

void Framer::step(std::uint8_t byte, std::uint64_t at, std::vector<Item>& out) {
    if (candidate_.empty()) {
        if (byte == sync_char_1) {
            candidate_begin_ = at;
            candidate_.push_back(byte);
        } else {
            hand_on(byte, at, out);
        }
        return;
    }
    if (candidate_.size() == 1 && byte != sync_char_2) {
        // A lone 0xB5: noise. This byte may begin a frame itself.
        hand_on(candidate_.front(), candidate_begin_, out);
        candidate_.clear();
        step(byte, at, out);
        return;
    }
    candidate_.push_back(byte);
    if (candidate_.size() < header_size) {
        return;
    }
    const std::size_t length =
        static_cast<std::size_t>(candidate_[4]) | static_cast<std::size_t>(candidate_[5]) << 8;
    if (length > max_payload) {
        // Refused before a byte of the payload is buffered.
        ++counters_.over_long;
        rescan(out);
        return;
    }
    if (candidate_.size() < header_size + length + checksum_size) {
        return;
    }
    const Checksum expected =
        checksum(std::span<const std::uint8_t>{candidate_}.subspan(2, header_size - 2 + length));
    if (expected.a == candidate_[header_size + length] &&
        expected.b == candidate_[header_size + length + 1]) {
        accept(length, out);
    } else {
        ++counters_.bad_checksum;
        rescan(out);
    }
}

void Framer::accept(std::size_t length, std::vector<Item>& out) {
    flush_other(out);
    Item frame;
    frame.kind = Item::Kind::frame;
    frame.message_class = candidate_[2];
    frame.message_id = candidate_[3];
    frame.known = decoded_message(frame.message_class, frame.message_id);
    frame.bytes.assign(candidate_.begin() + header_size,
                       candidate_.begin() + static_cast<std::ptrdiff_t>(header_size + length));
    frame.stream_begin = candidate_begin_;
    frame.stream_end = candidate_begin_ + candidate_.size();
    ++(frame.known ? counters_.good : counters_.unknown);
    counters_.frame_bytes += candidate_.size();
    candidate_.clear();
    out.push_back(std::move(frame));
}

void Framer::rescan(std::vector<Item>& out) {
    // The sync bytes go on as other bytes (the NMEA parser counts them as
    // garbage, as it did before UBX was read); the search restarts at the
    // byte after the sync, not after the claimed length.
    hand_on(candidate_[0], candidate_begin_, out);
    hand_on(candidate_[1], candidate_begin_ + 1, out);
    std::vector<std::uint8_t> again(candidate_.begin() + 2, candidate_.end());
    again.insert(again.end(), rescan_.begin() + static_cast<std::ptrdiff_t>(rescan_next_),
                 rescan_.end());
    rescan_ = std::move(again);
    rescan_next_ = 0;
    rescan_begin_ = candidate_begin_ + 2;
    candidate_.clear();
}

void Framer::hand_on(std::uint8_t byte, std::uint64_t at, std::vector<Item>& out) {
    hand_on(std::span<const std::uint8_t>{&byte, 1}, at, out);
}

void Framer::hand_on(std::span<const std::uint8_t> bytes, std::uint64_t at,
                     std::vector<Item>& out) {
    if (!other_.empty() && other_begin_ + other_.size() != at) {
        flush_other(out);
    }
    if (other_.empty()) {
        other_begin_ = at;
    }
    other_.insert(other_.end(), bytes.begin(), bytes.end());
    counters_.other_bytes += bytes.size();
}

void Framer::flush_other(std::vector<Item>& out) {
    if (other_.empty()) {
        return;
    }
    Item item;
    item.kind = Item::Kind::other;
    item.stream_begin = other_begin_;
    item.stream_end = other_begin_ + other_.size();
    item.bytes = std::move(other_);
    other_.clear();
    out.push_back(std::move(item));
}

} // namespace shmrefclock::ubx
