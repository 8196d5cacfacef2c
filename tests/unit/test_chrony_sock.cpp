// The chrony SOCK output against a real bound AF_UNIX datagram socket, as
// chronyd binds it (refclock_sock.c: unlink, bind; one sample per datagram).
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/unique_fd.hpp"
#include "outputs/chrony_sock.hpp"

using namespace shmrefclock;

namespace {

// A private directory for the sockets, removed with everything in it.
struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/shmrefclock-sock-XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~TempDir() {
        ::unlink((path + "/chrony.sock").c_str());
        ::rmdir(path.c_str());
    }
    std::string socket_path() const { return path + "/chrony.sock"; }
};

// What chronyd does in sock_initialise(): unlink the path, bind a datagram
// socket to it. Non-blocking, so that a test never hangs on a missing sample.
struct Receiver {
    UniqueFd fd;
    explicit Receiver(const std::string& path) {
        ::unlink(path.c_str());
        fd = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        REQUIRE(fd.valid());
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof(address.sun_path));
        std::memcpy(address.sun_path, path.data(), path.size());
        REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) ==
                0);
    }
    // One datagram as chrony's recv() sees it, or nullopt if none is queued.
    std::optional<std::vector<unsigned char>> receive() const {
        std::vector<unsigned char> buffer(256); // larger than a sample: see its true size
        const ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
        if (n < 0) {
            REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
            return std::nullopt;
        }
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }
};

// The bytes chrony expects, laid out by hand from refclock_sock.c's struct,
// not from SockSample: with a 64-bit time_t 40 bytes (tv_sec 8, tv_usec 8,
// double 8, four ints); with a 32-bit one (Debian 12 armhf) 32 bytes
// (tv_sec 4, tv_usec 4, double 8, four ints).
constexpr bool wide_timeval = sizeof(time_t) == 8;
constexpr std::size_t tv_size = wide_timeval ? 16 : 8;
constexpr std::size_t sample_size = tv_size + 24;

std::vector<unsigned char> expected_bytes(std::int64_t tv_sec, std::int64_t tv_usec, double offset,
                                          int pulse, int leap) {
    std::vector<unsigned char> bytes(sample_size, 0xee);
    auto put = [&bytes](std::size_t at, const auto& value) {
        std::memcpy(bytes.data() + at, &value, sizeof(value));
    };
    if (wide_timeval) {
        put(0, tv_sec);
        put(8, tv_usec);
    } else {
        put(0, static_cast<std::int32_t>(tv_sec));
        put(4, static_cast<std::int32_t>(tv_usec));
    }
    put(tv_size, offset);
    put(tv_size + 8, pulse);
    put(tv_size + 12, leap);
    put(tv_size + 16, std::int32_t{0});
    put(tv_size + 20, std::int32_t{0x534f434b});
    return bytes;
}

Sample make_sample(timespec reference, timespec receive, Leap leap = Leap::none,
                   bool pulse = false) {
    Sample s;
    s.reference_time = reference;
    s.receive_time = receive;
    s.leap = leap;
    s.precision = -20;
    s.pulse = pulse;
    return s;
}

double read_double(const std::vector<unsigned char>& bytes, std::size_t at) {
    double value = 0;
    std::memcpy(&value, bytes.data() + at, sizeof(value));
    return value;
}

} // namespace

TEST_CASE("SOCK samples have chrony's bytes on the wire") {
    TempDir dir;
    Receiver chrony(dir.socket_path());
    ChronySockOutput output(dir.socket_path());
    CHECK(output.connected());
    CHECK(output.describe() == "chrony SOCK " + dir.socket_path());

    SECTION("reference behind receive: the off-by-one system source") {
        // Receive 1700000000.123456789, reference one second earlier.
        output.write(make_sample({1699999999, 123456789}, {1700000000, 123456789}));
        auto got = chrony.receive();
        REQUIRE(got.has_value());
        CHECK(got->size() == sample_size);
        // tv: receive time truncated to microseconds; offset exactly -1 s.
        CHECK(*got == expected_bytes(1700000000, 123456, -1.0, 0, 0));
    }
    SECTION("a sub-microsecond offset is kept, only tv is truncated") {
        // reference - receive = (1700000000.000000250 - 1700000001.123456789)
        //                     = -1.123456539 s.
        output.write(make_sample({1700000000, 250}, {1700000001, 123456789}, Leap::insert));
        auto got = chrony.receive();
        REQUIRE(got.has_value());
        CHECK(*got == expected_bytes(1700000001, 123456, -1.123456539, 0, 1));
        CHECK(read_double(*got, tv_size) == -1.123456539);
    }
    SECTION("leap delete") {
        output.write(make_sample({1700000000, 500000000}, {1700000000, 0}, Leap::remove));
        auto got = chrony.receive();
        REQUIRE(got.has_value());
        CHECK(*got == expected_bytes(1700000000, 0, 0.5, 0, 2));
    }
    SECTION("a pulse carries receive - reference, as RCL_AddPulse wants") {
        // A pulse seen at system time 1700000005.000250000 and numbered
        // 1700000005.0 (the system clock is 250 us fast): chrony's PPS driver
        // would pass 1e-9 * tv_nsec = +0.00025 for it.
        output.write(make_sample({1700000005, 0}, {1700000005, 250000}, Leap::none, true));
        auto got = chrony.receive();
        REQUIRE(got.has_value());
        CHECK(*got == expected_bytes(1700000005, 250, 0.00025, 1, 0));
    }
    CHECK(output.sent() == 1);
    CHECK(output.dropped() == 0);
    CHECK_FALSE(chrony.receive().has_value()); // exactly one datagram per sample
}

TEST_CASE("SOCK reconnects when chronyd re-creates its socket") {
    TempDir dir;
    const Sample sample = make_sample({1700000000, 0}, {1700000001, 0});
    auto first = std::make_optional<Receiver>(dir.socket_path());
    ChronySockOutput output(dir.socket_path());
    output.write(sample);
    REQUIRE(first->receive().has_value());

    SECTION("restarted in between two samples: nothing is lost") {
        // chronyd exits (closing its socket) and a new one unlinks and binds
        // the same path before our next sample.
        first.reset();
        Receiver second(dir.socket_path());
        output.write(sample);
        auto got = second.receive();
        REQUIRE(got.has_value());
        CHECK(*got == expected_bytes(1700000001, 0, -1.0, 0, 0));
        CHECK(output.sent() == 2);
        CHECK(output.dropped() == 0);
        CHECK(output.connections() == 2);
    }
    SECTION("down for a while: dropped and counted, then delivered again") {
        first.reset();
        ::unlink(dir.socket_path().c_str());
        output.write(sample); // ECONNREFUSED, then ENOENT on reconnecting
        output.write(sample); // ENOENT
        CHECK_FALSE(output.connected());
        CHECK(output.dropped() == 2);
        Receiver second(dir.socket_path());
        output.write(sample);
        CHECK(output.connected());
        REQUIRE(second.receive().has_value());
        CHECK(output.sent() == 2);
        CHECK(output.dropped() == 2);
    }
    SECTION("socket file left behind by a dead chronyd: refused, no crash") {
        first.reset(); // the path still exists, nobody is bound to it
        output.write(sample);
        output.write(sample);
        CHECK(output.dropped() == 2);
        Receiver second(dir.socket_path());
        output.write(sample);
        REQUIRE(second.receive().has_value());
    }
}

TEST_CASE("SOCK without chronyd: nothing blocks, nothing crashes") {
    TempDir dir;
    ChronySockOutput output(dir.socket_path());
    CHECK_FALSE(output.connected());
    for (int i = 0; i < 5; ++i) {
        output.write(make_sample({1700000000, 0}, {1700000000, 0}));
    }
    output.withdraw(); // a no-op for SOCK, but must be harmless
    CHECK(output.sent() == 0);
    CHECK(output.dropped() == 5);

    // chronyd appears later: the next sample goes through.
    Receiver chrony(dir.socket_path());
    output.write(make_sample({1700000000, 0}, {1700000000, 0}));
    CHECK(chrony.receive().has_value());
    CHECK(output.sent() == 1);
}

TEST_CASE("SOCK drops samples when chronyd does not read them, without blocking") {
    TempDir dir;
    Receiver chrony(dir.socket_path());
    ChronySockOutput output(dir.socket_path());
    // Nobody reads: the receive queue fills (net.unix.max_dgram_qlen, or the
    // socket buffer), after which send() would block; ours must return.
    constexpr int attempts = 100000;
    for (int i = 0; i < attempts && output.dropped() == 0; ++i) {
        output.write(make_sample({1700000000, 0}, {1700000000, i}));
    }
    REQUIRE(output.dropped() > 0);
    // The same chronyd, only slow: keep the connection, never reconnect.
    CHECK(output.connected());
    CHECK(output.connections() == 1);
    const auto queued = output.sent();
    // Reading frees the queue; delivery resumes on the same connection.
    int drained = 0;
    while (chrony.receive()) {
        ++drained;
    }
    CHECK(static_cast<std::uint64_t>(drained) == queued);
    output.write(make_sample({1700000000, 0}, {1700000000, 0}));
    CHECK(output.sent() == queued + 1);
    CHECK(chrony.receive().has_value());
}
