// pps-emulator: an LD_PRELOAD library that makes the unmodified shmrefclock
// binary see a kernel PPS device (docs/design.md, "Testing": this machine has no
// /dev/ppsN). It answers the ioctls that <sys/timepps.h> (pps-tools) makes of
// drivers/pps/pps.c (PPS_GETPARAMS, PPS_SETPARAMS, PPS_GETCAP, PPS_FETCH with
// its timeout) on the paths it is told to emulate, as the kernel would, and
// passes everything else through.
//
// Edges fall on CLOCK_REALTIME second boundaries plus an offset, so a reader
// whose receive stamps are the kernel timestamps sees an exactly known edge
// time; PPS_FETCH sleeps until the edge but reports the computed time, so the
// test's expectations do not depend on scheduling.
//
// With the clock emulator (tests/clock-emulator) preloaded as well, in either
// order, the process's CLOCK_REALTIME may be stepped by a test. The edges
// then stay on the kernel's (true) second boundaries, since a pulse is a
// physical event, and each is stamped as the kernel stamps it: with the
// process's CLOCK_REALTIME at the edge, i.e. the true edge plus the
// emulated offset in force at that moment (the clock emulator's exported
// shmrefclock_clock_emulator_offset_at, looked up with dlsym(RTLD_DEFAULT)).
// This library reads and sleeps on the kernel's clock with the system calls
// themselves, so its own time line is never the stepped one whatever the
// load order; every other interposed function (open, ioctl, close) chains to
// the next definition with dlsym(RTLD_NEXT) (tests/preload_common.hpp).
//
// Environment (all optional except the first):
//   SHMREFCLOCK_PPS_EMULATE=/dev/pps0[,/dev/pps1...]  paths to emulate; they
//       need not exist. Without it the library only passes calls through.
//   SHMREFCLOCK_PPS_OFFSET_NS=N    assert edge at every second + N ns (signed;
//       default 0). |offset| + jitter + shift must stay under 1 s.
//   SHMREFCLOCK_PPS_WIDTH_NS=N     clear edge N ns after the assert edge
//       (default 100000000: a 100 ms pulse).
//   SHMREFCLOCK_PPS_JITTER_NS=N    add uniform jitter in [-N, +N] ns to each
//       edge, from a PRNG keyed by the seed and the second (default 0).
//   SHMREFCLOCK_PPS_SEED=N         the jitter seed (default: from the time and
//       pid); printed on stderr either way.
//   SHMREFCLOCK_PPS_MISS_EVERY=K   no pulse in seconds s with s % K == 0.
//   SHMREFCLOCK_PPS_REPEAT_EVERY=K in seconds s with s % K == 0 (not missed)
//       there is no new pulse, but fetchers wake at the edge and get the
//       previous event again: a repeated sequence number.
//   SHMREFCLOCK_PPS_SHIFT_EVERY=K  pulses of seconds s with s % K == 0 (not
//       missed or repeated) come SHMREFCLOCK_PPS_SHIFT_NS late (default
//       500000000: half a second off).
//   SHMREFCLOCK_PPS_APPEAR_AFTER=S the device exists only S seconds after this
//       library is loaded; before, open() fails with ENOENT (default 0).
//   SHMREFCLOCK_PPS_DISAPPEAR_AFTER=S  the device is unregistered S seconds
//       after load: open() fails with ENOENT, and fds opened before fail
//       every ioctl with ENODEV, or with SHMREFCLOCK_PPS_GONE_FETCH=timeout
//       answer as the real kernel does for an unregistered device (PPS_FETCH
//       only ever times out).
//   SHMREFCLOCK_PPS_REAPPEAR_AFTER=S   a new device with the same path is
//       registered S seconds after load (fds from before stay dead, its
//       sequence numbers and mode start afresh).
//   SHMREFCLOCK_PPS_CAPS=both|assert|clear  edges it can capture (default
//       both, like pps-ldisc); PPS_CANWAIT and PPS_TSFMT_TSPEC always.
//   SHMREFCLOCK_PPS_MODE=both|assert|clear|none  edges captured after
//       registration (default both, like pps-ldisc).
//   SHMREFCLOCK_PPS_CAP_SYS_TIME=1  PPS_SETPARAMS is allowed; otherwise it
//       fails with EPERM, as the kernel's capable(CAP_SYS_TIME) check does for
//       the service.
//   SHMREFCLOCK_PPS_TRACE=FILE     append one line per load, open, setparams
//       and fetch, for the tests to compare against.
//
// Sequence numbers count the pulses of one registration from 1. Seconds are
// judged in the order missed, repeated, shifted.
//
// Written as plain functions over plain data: the library is loaded before
// anything else and may be called before its own static constructors run,
// so every piece of state is a function-local static.

// Our open/open64 must not be renamed by large-file or fortify redirects.
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/pps.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload_common.hpp"

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;

// --- Settings ---------------------------------------------------------------

struct Settings {
    std::vector<std::string> paths;
    std::int64_t offset_ns = 0;
    std::int64_t width_ns = 100'000'000;
    std::int64_t jitter_ns = 0;
    std::uint64_t seed = 0;
    std::int64_t miss_every = 0;
    std::int64_t repeat_every = 0;
    std::int64_t shift_every = 0;
    std::int64_t shift_ns = 500'000'000;
    // Realtime ns of the registrations: [appear, disappear) then [reappear, ∞).
    std::int64_t appear = 0;
    std::int64_t disappear = INT64_MAX;
    std::int64_t reappear = INT64_MAX;
    bool gone_times_out = false;
    int caps = 0;
    int initial_mode = 0;
    bool cap_sys_time = false;
    std::string trace;
    std::int64_t loaded = 0; // realtime ns
};

// The emulator's time line is the kernel's own CLOCK_REALTIME, read with the
// system call: the "true" time of the pulses, which stays put when the
// clock emulator steps the process's CLOCK_REALTIME (see stamp()).
std::int64_t now_ns() {
    timespec t{};
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &t);
    return static_cast<std::int64_t>(t.tv_sec) * ns_per_s + t.tv_nsec;
}

// The process's CLOCK_REALTIME minus the kernel's at kernel time `t`: the
// clock emulator's offset in force then (tests/clock-emulator exports the
// hook), or 0 without it. A kernel stamps a pulse with CLOCK_REALTIME as it
// reads at the edge; a pulse is a physical event at a true second, so when
// the system clock is stepped the edges stay where they are and their stamps
// move by the step.
std::int64_t stamp(std::int64_t t) {
    using OffsetAtFn = std::int64_t (*)(std::int64_t);
    static const OffsetAtFn offset_at =
        preload::optional<OffsetAtFn>("shmrefclock_clock_emulator_offset_at");
    return offset_at != nullptr ? t + offset_at(t) : t;
}

std::int64_t env_int(const char* name, std::int64_t fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::strtoll(value, nullptr, 0) : fallback;
}

std::int64_t env_seconds_after(const char* name, std::int64_t loaded, std::int64_t fallback) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        return fallback;
    }
    return loaded + static_cast<std::int64_t>(std::strtod(value, nullptr) * 1e9);
}

int env_edges(const char* name, int fallback) {
    const char* value = std::getenv(name);
    if (value == nullptr) {
        return fallback;
    }
    const std::string text = value;
    if (text == "both") {
        return PPS_CAPTUREBOTH;
    }
    if (text == "assert") {
        return PPS_CAPTUREASSERT;
    }
    if (text == "clear") {
        return PPS_CAPTURECLEAR;
    }
    return 0;
}

void trace(const Settings& settings, const char* format, ...) __attribute__((format(printf, 2, 3)));

void trace(const Settings& settings, const char* format, ...) {
    if (settings.trace.empty()) {
        return;
    }
    static std::mutex mutex;
    const std::lock_guard lock(mutex);
    std::va_list args;
    va_start(args, format);
    preload::vappend_line(settings.trace.c_str(), format, args);
    va_end(args);
}

std::string paths_text(const Settings& s) {
    std::string text;
    for (const auto& path : s.paths) {
        text += (text.empty() ? "" : ",") + path;
    }
    return text;
}

Settings read_settings() {
    Settings s;
    s.loaded = now_ns();
    if (const char* paths = std::getenv("SHMREFCLOCK_PPS_EMULATE")) {
        std::string all = paths;
        std::size_t start = 0;
        while (start <= all.size()) {
            const std::size_t comma = all.find(',', start);
            const std::string one = all.substr(start, comma - start);
            if (!one.empty()) {
                s.paths.push_back(one);
            }
            if (comma == std::string::npos) {
                break;
            }
            start = comma + 1;
        }
    }
    s.offset_ns = env_int("SHMREFCLOCK_PPS_OFFSET_NS", 0);
    s.width_ns = env_int("SHMREFCLOCK_PPS_WIDTH_NS", 100'000'000);
    s.jitter_ns = env_int("SHMREFCLOCK_PPS_JITTER_NS", 0);
    s.seed = static_cast<std::uint64_t>(env_int(
        "SHMREFCLOCK_PPS_SEED", (s.loaded / 1000) ^ (static_cast<std::int64_t>(getpid()) << 20)));
    s.miss_every = env_int("SHMREFCLOCK_PPS_MISS_EVERY", 0);
    s.repeat_every = env_int("SHMREFCLOCK_PPS_REPEAT_EVERY", 0);
    s.shift_every = env_int("SHMREFCLOCK_PPS_SHIFT_EVERY", 0);
    s.shift_ns = env_int("SHMREFCLOCK_PPS_SHIFT_NS", 500'000'000);
    s.appear = env_seconds_after("SHMREFCLOCK_PPS_APPEAR_AFTER", s.loaded, s.loaded);
    s.disappear = env_seconds_after("SHMREFCLOCK_PPS_DISAPPEAR_AFTER", s.loaded, INT64_MAX);
    s.reappear = env_seconds_after("SHMREFCLOCK_PPS_REAPPEAR_AFTER", s.loaded, INT64_MAX);
    const char* gone = std::getenv("SHMREFCLOCK_PPS_GONE_FETCH");
    s.gone_times_out = gone != nullptr && std::string(gone) == "timeout";
    s.caps = env_edges("SHMREFCLOCK_PPS_CAPS", PPS_CAPTUREBOTH) | PPS_OFFSETASSERT |
             PPS_OFFSETCLEAR | PPS_CANWAIT | PPS_TSFMT_TSPEC;
    // As pps_register_source() leaves it: the driver's default capture and
    // offset bits.
    s.initial_mode = (env_edges("SHMREFCLOCK_PPS_MODE", PPS_CAPTUREBOTH) & s.caps) |
                     PPS_OFFSETASSERT | PPS_OFFSETCLEAR;
    s.cap_sys_time = env_int("SHMREFCLOCK_PPS_CAP_SYS_TIME", 0) != 0;
    if (const char* file = std::getenv("SHMREFCLOCK_PPS_TRACE")) {
        s.trace = file;
    }
    if (!s.paths.empty()) {
        std::fprintf(stderr,
                     "pps-emulator: emulating %s: offset %" PRId64 " ns, jitter %" PRId64
                     " ns, seed %" PRIu64 " (SHMREFCLOCK_PPS_SEED)\n",
                     paths_text(s).c_str(), s.offset_ns, s.jitter_ns, s.seed);
        trace(s, "load realtime=%" PRId64 " seed=%" PRIu64, s.loaded, s.seed);
    }
    return s;
}

const Settings& settings() {
    static const Settings s = read_settings();
    return s;
}

// --- The emulated devices ---------------------------------------------------

// Registration 0 is [appear, disappear), registration 1 [reappear, ∞).
int registration_at(const Settings& s, std::int64_t t) {
    if (t >= s.reappear) {
        return 1;
    }
    if (t >= s.appear && t < s.disappear) {
        return 0;
    }
    return -1;
}

std::int64_t registered_at(const Settings& s, int registration) {
    return registration == 0 ? s.appear : s.reappear;
}

std::int64_t unregistered_at(const Settings& s, int registration) {
    return registration == 0 ? s.disappear : INT64_MAX;
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

enum class Kind { pulse, missed, repeated };

Kind kind_of(const Settings& s, std::int64_t second) {
    if (s.miss_every > 0 && second % s.miss_every == 0) {
        return Kind::missed;
    }
    if (s.repeat_every > 0 && second % s.repeat_every == 0) {
        return Kind::repeated;
    }
    return Kind::pulse;
}

// The assert edge of `second` before any shift (also when a repeated second
// wakes fetchers).
std::int64_t nominal_edge(const Settings& s, std::int64_t second) {
    std::int64_t t = second * ns_per_s + s.offset_ns;
    if (s.jitter_ns > 0) {
        const std::uint64_t span = static_cast<std::uint64_t>(2 * s.jitter_ns + 1);
        const std::uint64_t r = splitmix64(s.seed ^ static_cast<std::uint64_t>(second));
        t += static_cast<std::int64_t>(r % span) - s.jitter_ns;
    }
    return t;
}

std::int64_t assert_edge(const Settings& s, std::int64_t second) {
    std::int64_t t = nominal_edge(s, second);
    if (s.shift_every > 0 && second % s.shift_every == 0) {
        t += s.shift_ns;
    }
    return t;
}

// Does the registration capture a pulse in this second (its assert edge
// inside its lifetime)?
bool has_pulse(const Settings& s, int registration, std::int64_t second) {
    if (kind_of(s, second) != Kind::pulse) {
        return false;
    }
    const std::int64_t t = assert_edge(s, second);
    return t >= registered_at(s, registration) && t < unregistered_at(s, registration);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

struct Event {
    std::uint32_t sequence = 0;
    std::int64_t time = 0; // 0: none yet
};

// The latest captured event of one edge at or before `t`, with its sequence
// number (pulses counted from the registration).
Event latest_event(const Settings& s, int registration, std::int64_t t, bool clear) {
    const std::int64_t first = floor_div(registered_at(s, registration), ns_per_s) - 1;
    Event event;
    std::uint32_t count = 0;
    for (std::int64_t second = first; second <= floor_div(t, ns_per_s) + 1; ++second) {
        if (!has_pulse(s, registration, second)) {
            continue;
        }
        const std::int64_t edge = assert_edge(s, second) + (clear ? s.width_ns : 0);
        ++count;
        if (edge <= t) {
            event = Event{count, edge};
        }
    }
    return event;
}

// When the next fetcher wake-up after `t` happens: a captured edge, or the
// nominal edge of a repeated second. INT64_MAX if none within 3 s.
std::int64_t next_wake(const Settings& s, int registration, int mode, std::int64_t t) {
    std::int64_t best = INT64_MAX;
    const std::int64_t start = floor_div(t, ns_per_s) - 1;
    for (std::int64_t second = start; second <= start + 4; ++second) {
        std::int64_t candidates[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
        if (has_pulse(s, registration, second)) {
            if ((mode & PPS_CAPTUREASSERT) != 0) {
                candidates[0] = assert_edge(s, second);
            }
            if ((mode & PPS_CAPTURECLEAR) != 0) {
                candidates[1] = assert_edge(s, second) + s.width_ns;
            }
        } else if (kind_of(s, second) == Kind::repeated && (mode & PPS_CAPTUREASSERT) != 0) {
            const std::int64_t glitch = nominal_edge(s, second);
            if (glitch >= registered_at(s, registration) &&
                glitch < unregistered_at(s, registration)) {
                candidates[2] = glitch;
            }
        }
        for (const std::int64_t c : candidates) {
            if (c > t && c < best) {
                best = c;
            }
        }
    }
    return best;
}

struct Device {
    // The mode of each registration (PPS_SETPARAMS changes it for all fds).
    int mode[2] = {0, 0};
};

struct OpenFile {
    std::size_t device = 0;
    int registration = 0;
};

struct State {
    std::mutex mutex;
    std::vector<Device> devices;
    std::map<int, OpenFile> files;
};

State& state() {
    static State s;
    static std::once_flag once;
    std::call_once(once, [] {
        const Settings& config = settings();
        s.devices.resize(config.paths.size());
        for (auto& device : s.devices) {
            device.mode[0] = device.mode[1] = config.initial_mode;
        }
    });
    return s;
}

int emulated_index(const char* path) {
    if (path == nullptr) {
        return -1;
    }
    const auto& paths = settings().paths;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (paths[i] == path) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

// --- The real functions -----------------------------------------------------

using preload::real;

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using CloseFn = int (*)(int);
using IoctlFn = int (*)(int, unsigned long, ...);

int real_open(const char* path, int flags, mode_t mode) {
    static const OpenFn fn = real<OpenFn>("open");
    return fn(path, flags, mode);
}

// open() of an emulated path: a /dev/null fd standing in for the device.
int open_emulated(int index, const char* path, int flags) {
    const Settings& s = settings();
    const int registration = registration_at(s, now_ns());
    if (registration < 0) {
        trace(s, "open %s ENOENT", path);
        errno = ENOENT;
        return -1;
    }
    const int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC), 0);
    if (fd < 0) {
        return fd;
    }
    State& st = state();
    {
        const std::lock_guard lock(st.mutex);
        st.files[fd] = OpenFile{static_cast<std::size_t>(index), registration};
    }
    trace(s, "open %s fd=%d registration=%d", path, fd, registration);
    return fd;
}

bool needs_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

int sleep_until(std::int64_t t) {
    timespec until{static_cast<time_t>(floor_div(t, ns_per_s)),
                   static_cast<long>(t - floor_div(t, ns_per_s) * ns_per_s)};
    // The system call, not clock_nanosleep(3): `t` is kernel time (now_ns()).
    return syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &until, nullptr) == 0
               ? 0
               : errno;
}

int fail(int error) {
    errno = error;
    return -1;
}

void set_time(pps_ktime& out, std::int64_t t) {
    out.sec = floor_div(t, ns_per_s);
    out.nsec = static_cast<__s32>(t - out.sec * ns_per_s);
}

// PPS_FETCH as drivers/pps/pps.c does it: wait for the next event after the
// call (or the timeout: ETIMEDOUT), then report the latest event of each
// captured edge.
int fetch(const OpenFile& file, pps_fdata* data) {
    const Settings& s = settings();
    State& st = state();
    const bool forever = (data->timeout.flags & PPS_TIME_INVALID) != 0;
    const std::int64_t deadline =
        forever ? INT64_MAX : now_ns() + data->timeout.sec * ns_per_s + data->timeout.nsec;
    const std::int64_t end = unregistered_at(s, file.registration);
    for (;;) {
        const std::int64_t t = now_ns();
        std::int64_t wake = INT64_MAX;
        int mode = 0;
        if (t >= end) {
            if (!s.gone_times_out) {
                trace(s, "fetch ENODEV");
                return fail(ENODEV);
            }
            // The kernel keeps answering for an unregistered device, but it
            // has no more events: waits only time out.
        } else {
            {
                const std::lock_guard lock(st.mutex);
                mode = st.devices[file.device].mode[file.registration];
            }
            wake = next_wake(s, file.registration, mode, t);
        }
        // Look again at least every second (and at the unregistration), so
        // that a mode set meanwhile or the end of the device is noticed.
        const std::int64_t target =
            std::min({wake, deadline, t < end ? end : INT64_MAX, t + ns_per_s});
        if (sleep_until(target) == EINTR) {
            return fail(EINTR);
        }
        if (target == wake) {
            const Event a = latest_event(s, file.registration, wake, false);
            const Event c = latest_event(s, file.registration, wake, true);
            std::memset(&data->info, 0, sizeof data->info);
            if ((mode & PPS_CAPTUREASSERT) != 0) {
                data->info.assert_sequence = a.sequence;
                set_time(data->info.assert_tu, a.time != 0 ? stamp(a.time) : 0);
            }
            if ((mode & PPS_CAPTURECLEAR) != 0) {
                data->info.clear_sequence = c.sequence;
                set_time(data->info.clear_tu, c.time != 0 ? stamp(c.time) : 0);
            }
            data->info.current_mode = mode;
            trace(s, "fetch assert=%u@%lld.%09d clear=%u@%lld.%09d", data->info.assert_sequence,
                  static_cast<long long>(data->info.assert_tu.sec), data->info.assert_tu.nsec,
                  data->info.clear_sequence, static_cast<long long>(data->info.clear_tu.sec),
                  data->info.clear_tu.nsec);
            return 0;
        }
        if (target == deadline) {
            trace(s, "fetch ETIMEDOUT");
            return fail(ETIMEDOUT);
        }
    }
}

int ioctl_emulated(const OpenFile& file, unsigned long request, void* arg) {
    const Settings& s = settings();
    State& st = state();
    const bool gone = now_ns() >= unregistered_at(s, file.registration);
    if (gone && !s.gone_times_out) {
        return fail(ENODEV);
    }
    if (arg == nullptr) {
        return fail(EFAULT);
    }
    switch (request) {
    case PPS_GETCAP: {
        *static_cast<int*>(arg) = s.caps;
        return 0;
    }
    case PPS_GETPARAMS: {
        pps_kparams params{};
        params.api_version = PPS_API_VERS;
        {
            const std::lock_guard lock(st.mutex);
            params.mode = st.devices[file.device].mode[file.registration];
        }
        std::memcpy(arg, &params, sizeof params);
        return 0;
    }
    case PPS_SETPARAMS: {
        pps_kparams params{};
        std::memcpy(&params, arg, sizeof params);
        // The kernel checks the capability before anything else.
        if (!s.cap_sys_time) {
            trace(s, "setparams mode=%#x EPERM", static_cast<unsigned>(params.mode));
            return fail(EPERM);
        }
        if ((params.mode & ~s.caps) != 0 ||
            ((params.mode & PPS_TSFMT_TSPEC) != 0 && (params.mode & PPS_TSFMT_NTPFP) != 0)) {
            trace(s, "setparams mode=%#x EINVAL", static_cast<unsigned>(params.mode));
            return fail(EINVAL);
        }
        int mode = params.mode;
        if ((mode & (PPS_TSFMT_TSPEC | PPS_TSFMT_NTPFP)) == 0) {
            mode |= PPS_TSFMT_TSPEC;
        }
        mode |= PPS_CANWAIT;
        {
            const std::lock_guard lock(st.mutex);
            st.devices[file.device].mode[file.registration] = mode;
        }
        trace(s, "setparams mode=%#x ok", static_cast<unsigned>(mode));
        return 0;
    }
    case PPS_FETCH:
        return fetch(file, static_cast<pps_fdata*>(arg));
    case PPS_KC_BIND:
        return fail(EOPNOTSUPP);
    default:
        return fail(ENOTTY);
    }
}

bool find_file(int fd, OpenFile& file) {
    if (settings().paths.empty()) {
        return false;
    }
    State& st = state();
    const std::lock_guard lock(st.mutex);
    const auto it = st.files.find(fd);
    if (it == st.files.end()) {
        return false;
    }
    file = it->second;
    return true;
}

} // namespace

// --- The interposed functions -----------------------------------------------

extern "C" {

int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);

int open(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (needs_mode(flags)) {
        std::va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    if (const int index = emulated_index(path); index >= 0) {
        return open_emulated(index, path, flags);
    }
    return real_open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (needs_mode(flags)) {
        std::va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    if (const int index = emulated_index(path); index >= 0) {
        return open_emulated(index, path, flags);
    }
    static const OpenFn fn = real<OpenFn>("open64");
    return fn(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
    mode_t mode = 0;
    if (needs_mode(flags)) {
        std::va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    if (const int index = emulated_index(path); index >= 0) {
        return open_emulated(index, path, flags);
    }
    static const OpenatFn fn = real<OpenatFn>("openat");
    return fn(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    mode_t mode = 0;
    if (needs_mode(flags)) {
        std::va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    if (const int index = emulated_index(path); index >= 0) {
        return open_emulated(index, path, flags);
    }
    static const OpenatFn fn = real<OpenatFn>("openat64");
    return fn(dirfd, path, flags, mode);
}

// The _FORTIFY_SOURCE entry points (no mode: they are only used without
// O_CREAT).
int __open_2(const char* path, int flags) {
    return open(path, flags);
}
int __open64_2(const char* path, int flags) {
    return open64(path, flags);
}
int __openat_2(int dirfd, const char* path, int flags) {
    return openat(dirfd, path, flags);
}
int __openat64_2(int dirfd, const char* path, int flags) {
    return openat64(dirfd, path, flags);
}

int close(int fd) {
    if (!settings().paths.empty()) {
        State& st = state();
        const std::lock_guard lock(st.mutex);
        st.files.erase(fd);
    }
    static const CloseFn fn = real<CloseFn>("close");
    return fn(fd);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
    std::va_list args;
    va_start(args, request);
    void* arg = va_arg(args, void*);
    va_end(args);
    OpenFile file;
    if (find_file(fd, file)) {
        return ioctl_emulated(file, request, arg);
    }
    static const IoctlFn fn = real<IoctlFn>("ioctl");
    return fn(fd, request, arg);
}

} // extern "C"

namespace {

// Read the settings (and print the seed) at load, so that the time origin
// of APPEAR_AFTER and friends is the process start.
__attribute__((constructor)) void load() {
    settings();
}

} // namespace
