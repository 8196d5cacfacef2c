// SysV segment attach checks, the mode-1 write protocol and the reader: the
// code of libshmrefclock (shmrefclock(3)), which the daemon's SHM output,
// `monitor`, `status` and the Python module all use.
//
// The protocol is gpsd's (ntpshmwrite.c) and is what chrony and NTPsec check:
// a reader copies the segment and drops the copy if `count` changed while it
// copied or `valid` is 0. Fields are stored through std::atomic_ref so that
// the concurrent reader is not a data race, and the seq_cst fences order the
// stores as the readers' plain loads expect on every architecture.
#include "shmrefclock/shm.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

namespace shmrefclock {

namespace {

template <typename T> void store(T& field, T value) {
    std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

template <typename T> T load(const T& field) {
    // atomic_ref needs a non-const object; the segment is mapped read-only
    // for readers, and a relaxed load never writes.
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}

void fence() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string where(int unit) {
    return fmt::format("SHM unit {} (key {:#010x})", unit, static_cast<unsigned>(shm_key(unit)));
}

// ntpd, NTPsec, chrony and gpsd all create exactly sizeof(struct shmTime).
// A segment of any other size was made by a program with another layout:
// smaller, and our writes would run past its end; larger (a 96-byte segment
// when we are 80), and the reader would take our fields at the wrong offsets.
void check_size(int unit, std::size_t size) {
    if (size != sizeof(ShmTime)) {
        throw ShmError(fmt::format(
            "{}: segment is {} bytes, but struct shmTime is {} bytes here ({}); it was probably "
            "created by a reader or writer built with another time_t (32-bit time_t: 80 bytes, "
            "64-bit: 96, or 88 on i386); refusing it",
            where(unit), size, sizeof(ShmTime), shm_layout.abi));
    }
}

// Refuse a segment someone else prepared: whoever controls it can feed the
// NTP daemon false time (docs/design.md, "What the readers impose").
void check_existing(int unit, int id, unsigned perm) {
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) != 0) {
        throw ShmError(fmt::format("{}: segment exists but cannot be inspected: {}", where(unit),
                                   errno_text(errno)));
    }
    const uid_t us = geteuid();
    auto trusted = [us](uid_t uid) { return uid == us || uid == 0; };
    if (!trusted(ds.shm_perm.uid) || !trusted(ds.shm_perm.cuid)) {
        throw ShmError(fmt::format(
            "{}: segment is owned by uid {} (created by uid {}), not by us (uid {}) or root; "
            "refusing it because its owner could feed the NTP daemon false time",
            where(unit), ds.shm_perm.uid, ds.shm_perm.cuid, us));
    }
    const unsigned mode = ds.shm_perm.mode & 0777;
    const unsigned unwanted = mode & 0022 & ~perm;
    if (unwanted != 0) {
        throw ShmError(fmt::format(
            "{}: segment has mode {:04o}, writable by {} although perm is {:04o}; refusing it "
            "(remove it with ipcrm or set perm to match)",
            where(unit), mode, (unwanted & 0002) ? "others" : "group", perm));
    }
    check_size(unit, ds.shm_segsz);
}

int find_or_create(int unit, unsigned perm, bool& created) {
    // Look first, so that an existing segment is inspected before use; then
    // create exclusively, so that a segment someone made in between is
    // inspected too instead of silently adopted.
    for (int attempt = 0; attempt < 3; ++attempt) {
        int id = shmget(shm_key(unit), 0, 0);
        if (id >= 0) {
            created = false;
            return id;
        }
        if (errno != ENOENT) {
            throw ShmError(
                fmt::format("{}: cannot look up segment: {}", where(unit), errno_text(errno)));
        }
        id = shmget(shm_key(unit), sizeof(ShmTime), IPC_CREAT | IPC_EXCL | static_cast<int>(perm));
        if (id >= 0) {
            created = true;
            return id;
        }
        if (errno != EEXIST) {
            throw ShmError(
                fmt::format("{}: cannot create segment: {}", where(unit), errno_text(errno)));
        }
    }
    throw ShmError(fmt::format("{}: segment keeps appearing and vanishing", where(unit)));
}

} // namespace

std::string describe_unit(int unit) {
    return where(unit);
}

ShmWriter::ShmWriter(int unit, unsigned perm) : unit_(unit), segment_(nullptr) {
    bool created = false;
    const int id = find_or_create(unit, perm, created);
    if (!created) {
        check_existing(unit, id, perm);
    }
    void* address = shmat(id, nullptr, 0);
    if (address == reinterpret_cast<void*>(-1)) {
        throw ShmError(fmt::format("{}: cannot attach segment for writing: {}", where(unit),
                                   errno_text(errno)));
    }
    segment_ = static_cast<ShmTime*>(address);
    store(segment_->valid, 0);
    store(segment_->mode, 1);
}

ShmWriter::~ShmWriter() {
    clear_valid();
    shmdt(segment_);
}

void ShmWriter::clear_valid() {
    store(segment_->valid, 0);
    fence();
}

void ShmWriter::write(const Sample& sample) {
    ShmTime fields{};
    fields.clockTimeStampSec = sample.reference_time.tv_sec;
    // USec must be NSec / 1000 truncated: chrony uses NSec only when
    // NSec / 1000 == USec, NTPsec only when NSec - USec * 1000 < 1000.
    fields.clockTimeStampUSec = static_cast<int>(sample.reference_time.tv_nsec / 1000);
    fields.clockTimeStampNSec = static_cast<unsigned>(sample.reference_time.tv_nsec);
    fields.receiveTimeStampSec = sample.receive_time.tv_sec;
    fields.receiveTimeStampUSec = static_cast<int>(sample.receive_time.tv_nsec / 1000);
    fields.receiveTimeStampNSec = static_cast<unsigned>(sample.receive_time.tv_nsec);
    fields.leap = static_cast<int>(sample.leap);
    fields.precision = sample.precision;
    write_fields(fields);
}

void ShmWriter::write(std::int64_t reference_ns, std::int64_t receive_ns, Leap leap,
                      int precision) {
    Sample sample;
    sample.reference_time = timespec_from_ns(reference_ns);
    sample.receive_time = timespec_from_ns(receive_ns);
    sample.leap = leap;
    sample.precision = precision;
    write(sample);
}

void ShmWriter::write_fields(const ShmTime& fields) {
    ShmTime& s = *segment_;
    store(s.valid, 0);
    fence();
    std::atomic_ref<int>(s.count).fetch_add(1, std::memory_order_relaxed);
    fence();
    store(s.mode, 1);
    store(s.clockTimeStampSec, fields.clockTimeStampSec);
    store(s.clockTimeStampUSec, fields.clockTimeStampUSec);
    store(s.clockTimeStampNSec, fields.clockTimeStampNSec);
    store(s.receiveTimeStampSec, fields.receiveTimeStampSec);
    store(s.receiveTimeStampUSec, fields.receiveTimeStampUSec);
    store(s.receiveTimeStampNSec, fields.receiveTimeStampNSec);
    store(s.leap, fields.leap);
    store(s.precision, fields.precision);
    store(s.nsamples, 0);
    fence();
    std::atomic_ref<int>(s.count).fetch_add(1, std::memory_order_relaxed);
    fence();
    store(s.valid, 1);
    fence();
}

int ShmWriter::count() const {
    return load(segment_->count);
}

std::optional<ShmReader> ShmReader::open(int unit) {
    const int id = shmget(shm_key(unit), 0, 0);
    if (id < 0) {
        return std::nullopt;
    }
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) == 0) {
        check_size(unit, ds.shm_segsz);
    }
    void* address = shmat(id, nullptr, SHM_RDONLY);
    if (address == reinterpret_cast<void*>(-1)) {
        throw ShmError(
            fmt::format("{}: cannot attach segment read-only: {}", where(unit), errno_text(errno)));
    }
    return ShmReader(unit, static_cast<const ShmTime*>(address));
}

ShmReader::ShmReader(ShmReader&& other) noexcept : unit_(other.unit_), segment_(other.segment_) {
    other.segment_ = nullptr;
}

ShmReader& ShmReader::operator=(ShmReader&& other) noexcept {
    if (this != &other) {
        if (segment_ != nullptr) {
            shmdt(segment_);
        }
        unit_ = other.unit_;
        segment_ = std::exchange(other.segment_, nullptr);
    }
    return *this;
}

ShmReader::~ShmReader() {
    if (segment_ != nullptr) {
        shmdt(segment_);
    }
}

std::optional<ShmSnapshot> ShmReader::read(int attempts) const {
    const ShmTime& s = *segment_;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        const int before = load(s.count);
        fence();
        ShmSnapshot snap{};
        snap.mode = load(s.mode);
        snap.valid = load(s.valid);
        snap.nsamples = load(s.nsamples);
        snap.sample.reference_time.tv_sec = load(s.clockTimeStampSec);
        snap.sample.reference_time.tv_nsec = load(s.clockTimeStampNSec);
        snap.sample.receive_time.tv_sec = load(s.receiveTimeStampSec);
        snap.sample.receive_time.tv_nsec = load(s.receiveTimeStampNSec);
        const int clock_usec = load(s.clockTimeStampUSec);
        const int receive_usec = load(s.receiveTimeStampUSec);
        snap.sample.leap = static_cast<Leap>(load(s.leap));
        snap.sample.precision = load(s.precision);
        fence();
        const int after = load(s.count);
        if (snap.mode == 1 && before != after) {
            continue;
        }
        snap.count = after;
        snap.clock_usec = clock_usec;
        snap.receive_usec = receive_usec;
        // Writers that fill only the microsecond fields (old ntpd-era
        // scripts) leave NSec inconsistent; trust USec then, as chrony does.
        if (snap.sample.reference_time.tv_nsec / 1000 != clock_usec) {
            snap.sample.reference_time.tv_nsec = static_cast<long>(clock_usec) * 1000;
        }
        if (snap.sample.receive_time.tv_nsec / 1000 != receive_usec) {
            snap.sample.receive_time.tv_nsec = static_cast<long>(receive_usec) * 1000;
        }
        return snap;
    }
    return std::nullopt;
}

std::optional<ShmSnapshot> ShmReader::wait_next(std::chrono::nanoseconds timeout,
                                                std::chrono::nanoseconds poll) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // What identifies one write: a mode-0 writer does not bump count, so
    // the times count too.
    auto same = [](const ShmSnapshot& a, const ShmSnapshot& b) {
        // Field by field: timespec_to_ns saturates after 2262.
        const auto equal = [](timespec x, timespec y) {
            return x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec;
        };
        return a.count == b.count && equal(a.sample.reference_time, b.sample.reference_time) &&
               equal(a.sample.receive_time, b.sample.receive_time);
    };
    std::optional<ShmSnapshot> first;
    while (!(first = read())) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(poll);
    }
    while (true) {
        auto snap = read();
        if (snap && snap->valid == 1 && !same(*snap, *first)) {
            return snap;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(poll);
    }
}

} // namespace shmrefclock
