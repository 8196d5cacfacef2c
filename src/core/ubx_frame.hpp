// u-blox UBX framing: one byte stream that carries UBX frames and NMEA
// sentences interleaved (the u-blox default) split into whole UBX frames and
// the other bytes, to be handed on unchanged to the NMEA parser
// (docs/design.md, "UBX framing and messages").
//
// Pure like the NMEA parser: no I/O, no clocks, no logging. The caller feeds
// whatever it read (any chunking) and gets the items that bytes completed, in
// stream order. Garbage is counted, never thrown, and the memory held between
// two reads is at most Framer::max_frame bytes whatever the input.
//
// A UBX frame: 0xB5 0x62, class, id, payload length (u16, little-endian), the
// payload, and CK_A CK_B, an 8-bit Fletcher checksum over class..payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace shmrefclock::ubx {

inline constexpr std::uint8_t sync_char_1 = 0xB5;
inline constexpr std::uint8_t sync_char_2 = 0x62;
inline constexpr std::size_t header_size = 6; // sync, class, id, length
inline constexpr std::size_t checksum_size = 2;

struct Checksum {
    std::uint8_t a = 0;
    std::uint8_t b = 0;
};

// The 8-bit Fletcher checksum of `bytes` (class through payload).
Checksum checksum(std::span<const std::uint8_t> bytes) noexcept;

struct Item {
    enum class Kind : std::uint8_t {
        frame, // a whole UBX frame with a right checksum
        other, // bytes that are not part of such a frame (NMEA, noise), unchanged
    };
    Kind kind = Kind::other;
    std::uint8_t message_class = 0; // frame only
    std::uint8_t message_id = 0;    // frame only
    // frame: a class and id the decoders read (ubx_messages: decoded_message).
    bool known = false;
    // frame: the payload only (no header, no checksum); other: the bytes.
    std::vector<std::uint8_t> bytes;
    // Position in the stream (bytes fed since construction) of the item's
    // first byte -- a frame's 0xB5 -- and one past its last. The first byte
    // of an epoch is stamped like an NMEA cycle's: the caller knows the
    // stream position at which each read began (Framer::position() before
    // feeding it), so `stream_begin - that position` is the first byte's
    // offset within the read that delivered it; an item may begin in an
    // earlier read than the one that completed it (stream_begin smaller than
    // the read's start).
    std::uint64_t stream_begin = 0;
    std::uint64_t stream_end = 0;

    std::string_view text() const noexcept {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
};

struct FrameCounters {
    std::uint64_t good = 0;         // right checksum, a message we decode
    std::uint64_t unknown = 0;      // right checksum, a class/id we do not decode
    std::uint64_t bad_checksum = 0; // wrong CK_A/CK_B: its bytes after the sync rescanned
    std::uint64_t over_long = 0;    // length over Framer::max_payload: refused at the header
    std::uint64_t truncated = 0;    // the stream ended (finish()) inside a frame
    std::uint64_t frame_bytes = 0;  // bytes in good and unknown frames, sync to checksum
    std::uint64_t other_bytes = 0;  // bytes handed on as `other`

    friend bool operator==(const FrameCounters&, const FrameCounters&) = default;
};

class Framer {
public:
    // The largest payload accepted. Not the timing messages' size (NAV-PVT,
    // the largest decoded, has 92 bytes; MON-VER 40 + 30 per extension):
    // the same stream carries messages that are not decoded but must still be
    // recognised as frames, or their payload would be rescanned as text --
    // NAV-SAT (8 + 12 per satellite), NAV-SIG (8 + 16 per signal: 1064 bytes
    // in ublox-zed-f9t-ubx_nmea_l5.log, the largest in the captures),
    // RXM-RAWX (16 + 32 per measurement). 2048 holds NAV-SIG with 127
    // signals. It also stays below 0x2020 (8224), the smallest length two
    // printable characters can spell, so that 0xB5 0x62 inside a text line
    // is refused as over-long at its header, not buffered. Longer frames
    // are counted over_long and their bytes handed on.
    static constexpr std::size_t max_payload = 2048;
    static constexpr std::size_t max_frame = header_size + max_payload + checksum_size;

    Framer();

    // Feed any number of bytes; returns the items they completed, in stream
    // order. `other` bytes are handed on as soon as they are known not to
    // belong to a frame: at the end of each call those read so far come out
    // as one item; a pending 0xB5 and a frame still incomplete are kept. The
    // split of the stream into calls changes only where `other` runs are cut,
    // never the frames, the other bytes or the counters.
    //
    // Resynchronization: a candidate frame that fails (the length is over
    // max_payload, or the checksum is wrong) is not skipped by its claimed
    // length: its two sync bytes are handed on as other bytes and the search
    // starts again at the byte after the sync, so that an NMEA sentence or a
    // real frame that begins inside the bad frame's claimed payload is found.
    std::vector<Item> feed(std::span<const std::uint8_t> bytes);
    std::vector<Item> feed(std::string_view bytes);

    // The stream ended or was cut (device closed, end of a capture): a frame
    // still incomplete is counted truncated, and its bytes after the sync
    // are rescanned as above; everything pending comes out.
    std::vector<Item> finish();

    const FrameCounters& counters() const noexcept { return counters_; }
    // Bytes fed since construction.
    std::uint64_t position() const noexcept { return position_; }
    // Bytes kept between calls (a pending frame and bytes to rescan): at
    // most max_frame.
    std::size_t buffered() const noexcept { return candidate_.size(); }

private:
    void step(std::uint8_t byte, std::uint64_t at, std::vector<Item>& out);
    void rescan(std::vector<Item>& out);
    void drain(std::vector<Item>& out);
    void accept(std::size_t length, std::vector<Item>& out);
    void hand_on(std::uint8_t byte, std::uint64_t at, std::vector<Item>& out);
    // A run of other bytes, the first at stream position `at`.
    void hand_on(std::span<const std::uint8_t> bytes, std::uint64_t at, std::vector<Item>& out);
    void flush_other(std::vector<Item>& out);
    void run(std::uint8_t byte, std::vector<Item>& out);

    // The candidate frame: bytes from a 0xB5 on, at stream position
    // candidate_begin_.
    std::vector<std::uint8_t> candidate_;
    std::uint64_t candidate_begin_ = 0;
    // Bytes of a refused candidate still to be looked at again, from
    // rescan_begin_ (rescan_next_ is the next one).
    std::vector<std::uint8_t> rescan_;
    std::size_t rescan_next_ = 0;
    std::uint64_t rescan_begin_ = 0;
    // The run of other bytes being gathered, from other_begin_.
    std::vector<std::uint8_t> other_;
    std::uint64_t other_begin_ = 0;

    std::uint64_t position_ = 0;
    FrameCounters counters_;
};

} // namespace shmrefclock::ubx
