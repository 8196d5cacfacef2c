// clock-emulator: an LD_PRELOAD library that makes the unmodified shmrefclock
// binary (or any program) see a kernel clock discipline state set by a test
// (docs/design.md, "Testing": the witness and the leap-second rules depend on
// what ntp_adjtime(2) says, and a test may not set the machine's clock).
//
// It answers adjtimex, __adjtimex, ntp_adjtime, clock_adjtime(CLOCK_REALTIME),
// ntp_gettime and ntp_gettimex. A read (modes 0, or ADJ_OFFSET_SS_READ which
// glibc's adjtime() uses to read) returns the real kernel's timex with the
// fields the test names replaced; every call that would change the clock
// (any other modes) fails with EPERM and is logged on stderr: the machine's
// clock is never touched, whatever the caller's privileges. Other clocks'
// clock_adjtime is passed through for reads and refused the same way.
//
// The state is read on every call, so a test can change it during a run
// (write a new file and rename it over the old one):
//   SHMREFCLOCK_CLOCK_FILE=PATH  a file of KEY=VALUE words (whitespace,
//       newlines, ',' or ';' between them; '#' starts a comment to the end
//       of the line). A missing file is the real kernel's state.
//   SHMREFCLOCK_CLOCK_STATE=TEXT the same words inline; the file's words are
//       applied after these.
//   SHMREFCLOCK_CLOCK_TRACE=FILE append one line per call (function, modes,
//       returned state, status), for tests that count the reads.
//   SHMREFCLOCK_CLOCK_HOST=TEXT words applied before all others: they stand
//       for the machine's own kernel, so that a whole suite can be run as on
//       a machine whose kernel is synchronized (or not) without touching
//       this one's (tests/README.md, "The kernel clock state").
// Keys (numbers in C syntax: 0x.., negative allowed):
//   realtime_offset_ns=N  the process's CLOCK_REALTIME runs N ns ahead of the
//                   kernel's (default 0); see "The emulated clock step" below.
//   status=BITS     STA_ names joined by '|' (STA_PLL|STA_UNSYNC, or PLL|UNSYNC)
//                   or a number; replaces the whole status word.
//   state=S         the return value: TIME_OK, TIME_INS, TIME_DEL, TIME_OOP,
//                   TIME_WAIT, TIME_ERROR or a number. Without it, derived
//                   from the status as kernel/time/ntp.c does: TIME_ERROR if
//                   STA_UNSYNC or STA_CLOCKERR, else TIME_INS if STA_INS,
//                   TIME_DEL if STA_DEL, else TIME_OK.
//   maxerror=US esterror=US offset=N freq=N constant=N tai=S tick=US
//                   the timex fields, in the kernel's units.
// A word that is not KEY=VALUE with a known key, or a value that does not
// parse, makes the call fail with EINVAL and is reported on stderr: a test
// with a typo must not run against the real kernel's state.
//
// The emulated clock step. clock_gettime(CLOCK_REALTIME, _COARSE, _TAI),
// gettimeofday, time and the timex/ntptimeval `time` fields read the kernel's
// clock plus realtime_offset_ns; that is how the daemon reads realtime (its
// loop's stamp_now()). The offset is read from SHMREFCLOCK_CLOCK_FILE when the
// library starts and again each time that file is written or renamed over
// (inotify on its directory, in a thread with every signal blocked). A change
// of the offset is a discontinuous change of CLOCK_REALTIME, a step, and the
// library then does to the process's CLOCK_REALTIME timerfds what the kernel
// does on settimeofday/clock_settime/ADJ_SETOFFSET (kernel/time/timerfd.c,
// timerfd_clock_was_set, and timerfd_create(2)):
//   - a timer armed with TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET is
//     cancelled: its fd polls readable, and the next read(2) (or one already
//     blocked in it) fails with ECANCELED and discards the expirations so far
//     (the kernel zeroes ticks). The timer itself stays armed with its
//     setting, and a later step cancels it again, re-armed or not. Several
//     steps before a read give one ECANCELED. A timerfd_settime(2) made while
//     a cancel is pending (no read in between) re-arms the timer and fails
//     with ECANCELED (timerfd_create(2), NOTES).
//   - other absolute timers keep their expiry in the stepped clock's terms:
//     they are re-armed at the same emulated time (periodic ones keep their
//     interval; the expirations counted so far are lost, which the kernel
//     keeps).
// Absolute expiries given to timerfd_settime are in the emulated clock and
// are translated to the kernel's; relative timers and CLOCK_MONOTONIC are
// untouched, as the kernel leaves them. Not emulated: clock_nanosleep and
// timer_create on CLOCK_REALTIME, CLOCK_REALTIME_ALARM's offset, and steps
// across fork() (the watching thread is not in the child).
//
// Composition with the PPS emulator (tests/pps-emulator): preload both, in
// either order. Every interposed function chains to the next definition with
// dlsym(RTLD_NEXT) (tests/preload_common.hpp), so read/close/open/ioctl reach
// libc through both. The PPS emulator keeps its edges on the kernel's true
// seconds (it reads and sleeps with the system calls, never through this
// clock_gettime) and stamps each edge, as the kernel's PPS core stamps with
// CLOCK_REALTIME, with the offset in force at the edge, from
// shmrefclock_clock_emulator_offset_at() exported below. A sanitizer
// runtime, if any, still comes first (it intercepts clock_gettime and read
// and calls on to these through RTLD_NEXT).
//
// Written as plain functions over constant-initialised data (no static
// constructors to wait for): the library may be called before its own
// initialisers have run. The one load-time hook only starts early what the
// first clock_gettime or timerfd_create would start.

#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include <pthread.h>
#include <sys/inotify.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <unistd.h>

#include "../preload_common.hpp"

namespace {

using preload::real;

using ClockAdjtimeFn = int (*)(clockid_t, timex*);

// The real kernel's reading, through the one entry point that takes a clock
// id (glibc's adjtimex/ntp_adjtime are clock_adjtime(CLOCK_REALTIME) too).
int real_read(clockid_t clock, timex* tx) {
    static ClockAdjtimeFn fn = real<ClockAdjtimeFn>("clock_adjtime");
    std::memset(tx, 0, sizeof *tx);
    tx->modes = 0;
    if (fn == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return fn(clock, tx);
}

struct Named {
    const char* name;
    long value;
};

constexpr Named status_names[] = {
    {"PLL", STA_PLL},
    {"PPSFREQ", STA_PPSFREQ},
    {"PPSTIME", STA_PPSTIME},
    {"FLL", STA_FLL},
    {"INS", STA_INS},
    {"DEL", STA_DEL},
    {"UNSYNC", STA_UNSYNC},
    {"FREQHOLD", STA_FREQHOLD},
    {"PPSSIGNAL", STA_PPSSIGNAL},
    {"PPSJITTER", STA_PPSJITTER},
    {"PPSWANDER", STA_PPSWANDER},
    {"PPSERROR", STA_PPSERROR},
    {"CLOCKERR", STA_CLOCKERR},
    {"NANO", STA_NANO},
    {"MODE", STA_MODE},
    {"CLK", STA_CLK},
};

constexpr Named state_names[] = {
    {"TIME_OK", TIME_OK},   {"TIME_INS", TIME_INS},   {"TIME_DEL", TIME_DEL},
    {"TIME_OOP", TIME_OOP}, {"TIME_WAIT", TIME_WAIT}, {"TIME_ERROR", TIME_ERROR},
};

bool parse_number(const char* text, long& value) {
    if (*text == '\0') {
        return false;
    }
    errno = 0;
    char* end = nullptr;
    value = std::strtol(text, &end, 0);
    return errno == 0 && *end == '\0';
}

bool parse_status(char* text, long& value) {
    if (parse_number(text, value)) {
        return true;
    }
    value = 0;
    for (char* part = std::strtok(text, "|"); part != nullptr; part = std::strtok(nullptr, "|")) {
        const char* name = std::strncmp(part, "STA_", 4) == 0 ? part + 4 : part;
        bool found = false;
        for (const Named& n : status_names) {
            if (std::strcmp(n.name, name) == 0) {
                value |= n.value;
                found = true;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

bool parse_state(const char* text, long& value) {
    if (parse_number(text, value)) {
        return true;
    }
    for (const Named& n : state_names) {
        if (std::strcmp(n.name, text) == 0) {
            value = n.value;
            return true;
        }
    }
    return false;
}

struct Override {
    bool has_state = false;
    long state = 0;
    std::int64_t realtime_offset_ns = 0;
};

// Apply one KEY=VALUE word to `tx`. False: not understood.
bool apply_word(char* word, timex& tx, Override& o) {
    char* equals = std::strchr(word, '=');
    if (equals == nullptr) {
        return false;
    }
    *equals = '\0';
    const char* key = word;
    char* value_text = equals + 1;
    long value = 0;
    if (std::strcmp(key, "status") == 0) {
        if (!parse_status(value_text, value)) {
            return false;
        }
        tx.status = static_cast<int>(value);
        return true;
    }
    if (std::strcmp(key, "state") == 0) {
        if (!parse_state(value_text, value)) {
            return false;
        }
        o.has_state = true;
        o.state = value;
        return true;
    }
    if (!parse_number(value_text, value)) {
        return false;
    }
    if (std::strcmp(key, "realtime_offset_ns") == 0) {
        o.realtime_offset_ns = value;
        return true;
    }
    if (std::strcmp(key, "maxerror") == 0) {
        tx.maxerror = value;
    } else if (std::strcmp(key, "esterror") == 0) {
        tx.esterror = value;
    } else if (std::strcmp(key, "offset") == 0) {
        tx.offset = value;
    } else if (std::strcmp(key, "freq") == 0) {
        tx.freq = value;
    } else if (std::strcmp(key, "constant") == 0) {
        tx.constant = value;
    } else if (std::strcmp(key, "tai") == 0) {
        tx.tai = static_cast<int>(value);
    } else if (std::strcmp(key, "tick") == 0) {
        tx.tick = value;
    } else {
        return false;
    }
    return true;
}

// Apply every word of `text` (modified in place). False: a bad word, which
// has been reported.
bool apply_text(char* text, const char* where, timex& tx, Override& o) {
    // Comments first: '#' to the end of its line.
    for (char* p = text; *p != '\0'; ++p) {
        if (*p == '#') {
            while (*p != '\0' && *p != '\n') {
                *p++ = ' ';
            }
            if (*p == '\0') {
                break;
            }
        }
    }
    char* save = nullptr;
    for (char* word = strtok_r(text, " \t\r\n,;", &save); word != nullptr;
         word = strtok_r(nullptr, " \t\r\n,;", &save)) {
        char copy[256];
        std::snprintf(copy, sizeof copy, "%s", word);
        if (!apply_word(word, tx, o)) {
            std::fprintf(stderr, "clock-emulator: %s: cannot use \"%s\"\n", where, copy);
            return false;
        }
    }
    return true;
}

// The host's words, then the environment's, then the file's, applied to `tx` and `o`. False
// on a bad word (reported).
bool apply_settings(timex& tx, Override& o) {
    if (const char* host_text = std::getenv("SHMREFCLOCK_CLOCK_HOST")) {
        char buffer[4096];
        std::snprintf(buffer, sizeof buffer, "%s", host_text);
        if (!apply_text(buffer, "SHMREFCLOCK_CLOCK_HOST", tx, o)) {
            return false;
        }
    }
    if (const char* inline_text = std::getenv("SHMREFCLOCK_CLOCK_STATE")) {
        char buffer[4096];
        std::snprintf(buffer, sizeof buffer, "%s", inline_text);
        if (!apply_text(buffer, "SHMREFCLOCK_CLOCK_STATE", tx, o)) {
            return false;
        }
    }
    if (const char* path = std::getenv("SHMREFCLOCK_CLOCK_FILE")) {
        if (FILE* file = std::fopen(path, "r")) {
            char buffer[4096];
            const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, file);
            std::fclose(file);
            buffer[n] = '\0';
            if (!apply_text(buffer, path, tx, o)) {
                return false;
            }
        }
    }
    return true;
}

std::int64_t current_offset_ns();

// The emulated reading: the real one, then the environment's words, then
// the file's. -1 with errno set on a bad word.
int emulated_read(timex* tx) {
    const int real_state = real_read(CLOCK_REALTIME, tx);
    if (real_state < 0) {
        return -1;
    }
    Override o;
    const long status_before = tx->status;
    if (!apply_settings(*tx, o)) {
        errno = EINVAL;
        return -1;
    }
    // The kernel fills `time` with CLOCK_REALTIME: the emulated one (tv_usec
    // holds ns when the kernel's own status, not the emulated one, has
    // STA_NANO).
    const std::int64_t unit = (status_before & STA_NANO) != 0 ? 1 : 1000;
    const std::int64_t per_s = 1'000'000'000 / unit;
    std::int64_t frac = tx->time.tv_usec + current_offset_ns() / unit;
    std::int64_t sec = tx->time.tv_sec + frac / per_s;
    frac %= per_s;
    if (frac < 0) {
        frac += per_s;
        --sec;
    }
    tx->time.tv_sec = static_cast<time_t>(sec);
    tx->time.tv_usec = static_cast<suseconds_t>(frac);
    if (o.has_state) {
        return static_cast<int>(o.state);
    }
    if (tx->status == status_before) {
        return real_state;
    }
    if ((tx->status & (STA_UNSYNC | STA_CLOCKERR)) != 0) {
        return TIME_ERROR;
    }
    if ((tx->status & STA_INS) != 0) {
        return TIME_INS;
    }
    if ((tx->status & STA_DEL) != 0) {
        return TIME_DEL;
    }
    return TIME_OK;
}

void trace(const char* function, unsigned modes, int result, const timex* tx) {
    preload::append_line(std::getenv("SHMREFCLOCK_CLOCK_TRACE"),
                         "%s modes=%#x result=%d status=%#x maxerror=%ld", function, modes, result,
                         tx != nullptr ? static_cast<unsigned>(tx->status) : 0U,
                         tx != nullptr ? tx->maxerror : 0L);
}

bool is_read(unsigned modes) {
    // glibc's adjtime(NULL, &old) reads with ADJ_OFFSET_SS_READ.
    return modes == 0 || modes == ADJ_OFFSET_SS_READ;
}

int refuse(const char* function, unsigned modes) {
    std::fprintf(stderr,
                 "clock-emulator: refused %s with modes %#x (pid %d): the emulated clock is "
                 "never set\n",
                 function, modes, static_cast<int>(getpid()));
    trace(function, modes, -1, nullptr);
    errno = EPERM;
    return -1;
}

int adjust(const char* function, timex* tx) {
    if (tx == nullptr) {
        errno = EFAULT;
        return -1;
    }
    const unsigned modes = tx->modes;
    if (!is_read(modes)) {
        return refuse(function, modes);
    }
    const int result = emulated_read(tx);
    trace(function, modes, result, result < 0 ? nullptr : tx);
    return result;
}

int gettime(const char* function, ntptimeval* ntv) {
    if (ntv == nullptr) {
        errno = EFAULT;
        return -1;
    }
    timex tx{};
    const int result = emulated_read(&tx);
    trace(function, 0, result, result < 0 ? nullptr : &tx);
    if (result < 0) {
        return -1;
    }
    // As glibc's ntp_gettimex: the time and the error bounds of the reading
    // (tv_usec holds ns when STA_NANO is set, as the kernel fills it).
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now); // the emulated one (below)
    ntv->time.tv_sec = now.tv_sec;
    ntv->time.tv_usec = (tx.status & STA_NANO) != 0 ? now.tv_nsec : now.tv_nsec / 1000;
    ntv->maxerror = tx.maxerror;
    ntv->esterror = tx.esterror;
    ntv->tai = tx.tai;
    return result;
}

// --- The emulated clock step -------------------------------------------------

constexpr std::int64_t ns_per_s = 1'000'000'000;

using ClockGettimeFn = int (*)(clockid_t, timespec*);
using ReadFn = ssize_t (*)(int, void*, size_t);
using CloseFn = int (*)(int);
using TimerfdCreateFn = int (*)(clockid_t, int);
using TimerfdSettimeFn = int (*)(int, int, const itimerspec*, itimerspec*);
using TimerfdGettimeFn = int (*)(int, itimerspec*);

int real_clock_gettime(clockid_t clock, timespec* t) {
    static const ClockGettimeFn fn = real<ClockGettimeFn>("clock_gettime");
    return fn != nullptr ? fn(clock, t) : (errno = ENOSYS, -1);
}

ssize_t real_read_fd(int fd, void* buffer, size_t size) {
    static const ReadFn fn = real<ReadFn>("read");
    return fn(fd, buffer, size);
}

int real_timerfd_settime(int fd, int flags, const itimerspec* value, itimerspec* old) {
    static const TimerfdSettimeFn fn = real<TimerfdSettimeFn>("timerfd_settime");
    return fn(fd, flags, value, old);
}

int real_timerfd_gettime(int fd, itimerspec* value) {
    static const TimerfdGettimeFn fn = real<TimerfdGettimeFn>("timerfd_gettime");
    return fn(fd, value);
}

std::int64_t kernel_realtime_ns() {
    timespec t{};
    real_clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<std::int64_t>(t.tv_sec) * ns_per_s + t.tv_nsec;
}

std::int64_t to_ns(const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * ns_per_s + t.tv_nsec;
}

timespec to_timespec(std::int64_t ns) {
    std::int64_t sec = ns / ns_per_s;
    std::int64_t rest = ns % ns_per_s;
    if (rest < 0) {
        rest += ns_per_s;
        --sec;
    }
    return timespec{static_cast<time_t>(sec), static_cast<long>(rest)};
}

bool is_realtime(clockid_t clock) {
    // CLOCK_TAI is CLOCK_REALTIME + the kernel's TAI offset: a step moves it
    // too.
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

// A CLOCK_REALTIME timerfd of the process, as the application set it.
struct TimerEntry {
    int fd = -1;
    int flags = 0;      // of the last timerfd_settime
    itimerspec value{}; // the application's, in the emulated clock
    bool might_cancel = false;
    bool cancelled = false; // a step since the last read or settime
};

// Everything below is constant-initialised (no constructor runs).
constinit std::atomic<std::int64_t> offset_ns{0};
constinit std::atomic<int> pending_cancels{0};
pthread_once_t offset_once = PTHREAD_ONCE_INIT;
constinit std::mutex step_mutex; // guards timers and history

constexpr std::size_t max_timers = 64;
TimerEntry timers[max_timers];

// The offset's changes, in kernel time, for offset_at().
struct Change {
    std::int64_t at_ns;
    std::int64_t offset_ns;
};
constexpr std::size_t history_size = 256;
Change history[history_size];
std::size_t history_count = 0;
std::int64_t initial_offset_ns = 0;

// The offset the settings name; `fallback` when they cannot be read (the
// bad word has been reported).
std::int64_t settings_offset(std::int64_t fallback) {
    timex ignored{};
    Override o;
    return apply_settings(ignored, o) ? o.realtime_offset_ns : fallback;
}

TimerEntry* find_timer(int fd) {
    for (TimerEntry& t : timers) {
        if (t.fd == fd && fd >= 0) {
            return &t;
        }
    }
    return nullptr;
}

// The application's setting, translated to the kernel's clock, on the real
// timer (which resets its expirations, as a cancelled read does).
void restore(const TimerEntry& t) {
    itimerspec value = t.value;
    if ((t.flags & TFD_TIMER_ABSTIME) != 0 && to_ns(value.it_value) != 0) {
        value.it_value = to_timespec(to_ns(value.it_value) - offset_ns.load());
    }
    real_timerfd_settime(t.fd, t.flags, &value, nullptr);
}

// A pending cancel of `fd` taken by a read: re-arm it as the application
// set it. Caller holds step_mutex.
bool take_cancel(int fd) {
    TimerEntry* t = find_timer(fd);
    if (t == nullptr || !t->cancelled) {
        return false;
    }
    t->cancelled = false;
    pending_cancels.fetch_sub(1);
    restore(*t);
    return true;
}

void step_to(std::int64_t next) {
    const std::lock_guard lock(step_mutex);
    const std::int64_t previous = offset_ns.load();
    if (next == previous) {
        return;
    }
    const std::int64_t now = kernel_realtime_ns();
    if (history_count == history_size) {
        std::memmove(&history[0], &history[1], sizeof history[0] * (history_size - 1));
        --history_count;
    }
    history[history_count++] = Change{now, next};
    offset_ns.store(next);
    for (TimerEntry& t : timers) {
        if (t.fd < 0) {
            continue;
        }
        if (t.might_cancel) {
            if (!t.cancelled) {
                t.cancelled = true;
                pending_cancels.fetch_add(1);
            }
            // Make the fd readable now: an absolute expiry in the past
            // fires at once (it_value 0 would disarm it instead).
            itimerspec expire{};
            expire.it_value.tv_nsec = 1;
            real_timerfd_settime(t.fd, TFD_TIMER_ABSTIME, &expire, nullptr);
        } else if ((t.flags & TFD_TIMER_ABSTIME) != 0) {
            itimerspec left{};
            if (real_timerfd_gettime(t.fd, &left) != 0 || to_ns(left.it_value) == 0) {
                continue; // disarmed or expired for good
            }
            // Same emulated expiry: kernel expiry moves by -(next - previous).
            // The time left counts from the gettime, so the clock is read
            // after it: the expiry can come out late by the gap between the
            // two, never early (with `now`, read before the loop, an
            // ASan build's timer fired 20 us before its time).
            const std::int64_t left_from = kernel_realtime_ns();
            itimerspec value{};
            value.it_interval = t.value.it_interval;
            value.it_value = to_timespec(left_from + to_ns(left.it_value) - (next - previous));
            real_timerfd_settime(t.fd, TFD_TIMER_ABSTIME, &value, nullptr);
        }
    }
    std::fprintf(stderr,
                 "clock-emulator: CLOCK_REALTIME stepped by %+.9f s (pid %d; now %+.9f s from the "
                 "kernel's)\n",
                 static_cast<double>(next - previous) / 1e9, static_cast<int>(getpid()),
                 static_cast<double>(next) / 1e9);
}

// The watching thread: re-reads the offset whenever the state file is
// written or renamed over.
void* watch_file(void* arg) {
    const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
    const char* path = std::getenv("SHMREFCLOCK_CLOCK_FILE");
    const char* slash = std::strrchr(path, '/');
    const char* base = slash != nullptr ? slash + 1 : path;
    alignas(inotify_event) char buffer[4096];
    for (;;) {
        const ssize_t n = real_read_fd(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            std::fprintf(stderr, "clock-emulator: inotify read: %s; steps are no longer seen\n",
                         n < 0 ? std::strerror(errno) : "end of file");
            return nullptr;
        }
        bool ours = false;
        for (ssize_t i = 0; i < n;) {
            inotify_event event{};
            std::memcpy(&event, buffer + i, sizeof event);
            const char* name = buffer + i + static_cast<ssize_t>(sizeof event);
            if (event.len > 0 && std::strcmp(name, base) == 0) {
                ours = true;
            }
            i += static_cast<ssize_t>(sizeof event + event.len);
        }
        if (ours) {
            step_to(settings_offset(offset_ns.load()));
        }
    }
}

void start_offset() {
    const char* path = std::getenv("SHMREFCLOCK_CLOCK_FILE");
    initial_offset_ns = settings_offset(0);
    offset_ns.store(initial_offset_ns);
    if (path == nullptr || *path == '\0') {
        return;
    }
    char directory[4096];
    std::snprintf(directory, sizeof directory, "%s", path);
    char* slash = std::strrchr(directory, '/');
    if (slash == nullptr) {
        std::snprintf(directory, sizeof directory, ".");
    } else if (slash == directory) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    const int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, directory, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        std::fprintf(stderr, "clock-emulator: cannot watch %s: %s; steps are not seen\n", directory,
                     std::strerror(errno));
        return;
    }
    // No signal may land on this thread: the application's handling of its
    // signals (a signalfd, sigwait) must not change.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_t thread;
    const int error =
        pthread_create(&thread, nullptr, watch_file, reinterpret_cast<void*>(std::intptr_t{fd}));
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (error != 0) {
        std::fprintf(stderr, "clock-emulator: cannot start the watching thread: %s\n",
                     std::strerror(error));
        return;
    }
    pthread_detach(thread);
}

std::int64_t current_offset_ns() {
    pthread_once(&offset_once, start_offset);
    return offset_ns.load();
}

// A read of `fd` through read(2) or __read_chk.
ssize_t emulated_fd_read(int fd, void* buffer, size_t size) {
    if (pending_cancels.load() > 0) {
        const std::lock_guard lock(step_mutex);
        if (take_cancel(fd)) {
            errno = ECANCELED;
            return -1;
        }
    }
    const ssize_t n = real_read_fd(fd, buffer, size);
    // A read blocked in the kernel when the step came returns the forced
    // expiry: the kernel would have woken it with ECANCELED.
    if (n > 0 && pending_cancels.load() > 0) {
        const std::lock_guard lock(step_mutex);
        if (take_cancel(fd)) {
            errno = ECANCELED;
            return -1;
        }
    }
    return n;
}

} // namespace

extern "C" {

__attribute__((visibility("default"))) int adjtimex(timex* tx) {
    return adjust("adjtimex", tx);
}

__attribute__((visibility("default"))) int __adjtimex(timex* tx) {
    return adjust("__adjtimex", tx);
}

__attribute__((visibility("default"))) int ntp_adjtime(timex* tx) {
    return adjust("ntp_adjtime", tx);
}

__attribute__((visibility("default"))) int clock_adjtime(clockid_t clock, timex* tx) {
    if (clock == CLOCK_REALTIME) {
        return adjust("clock_adjtime", tx);
    }
    // (tx is declared nonnull: the kernel's EFAULT is not emulated here.)
    if (!is_read(tx->modes)) {
        return refuse("clock_adjtime (another clock)", tx->modes);
    }
    static ClockAdjtimeFn fn = real<ClockAdjtimeFn>("clock_adjtime");
    return fn != nullptr ? fn(clock, tx) : (errno = ENOSYS, -1);
}

// <sys/timex.h> renames ntp_gettime to ntp_gettimex for new programs; old
// ones still call ntp_gettime itself, so both symbols are defined.
__attribute__((visibility("default"))) int ntp_gettimex(ntptimeval* ntv) {
    return gettime("ntp_gettimex", ntv);
}

int emulated_ntp_gettime(ntptimeval* ntv) __asm__("ntp_gettime");
__attribute__((visibility("default"))) int emulated_ntp_gettime(ntptimeval* ntv) {
    return gettime("ntp_gettime", ntv);
}

// --- CLOCK_REALTIME and its timerfds ---------------------------------------

__attribute__((visibility("default"))) int clock_gettime(clockid_t clock, timespec* t) noexcept {
    const int result = real_clock_gettime(clock, t);
    if (result == 0 && is_realtime(clock)) {
        *t = to_timespec(to_ns(*t) + current_offset_ns());
    }
    return result;
}

__attribute__((visibility("default"))) int gettimeofday(timeval* __restrict tv,
                                                        void* __restrict tz) noexcept {
    // tz: obsolete; glibc only zeroes it.
    if (tz != nullptr) {
        std::memset(tz, 0, sizeof(struct timezone));
    }
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tv->tv_sec = now.tv_sec;
    tv->tv_usec = static_cast<suseconds_t>(now.tv_nsec / 1000);
    return 0;
}

__attribute__((visibility("default"))) time_t time(time_t* out) noexcept {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (out != nullptr) {
        *out = now.tv_sec;
    }
    return now.tv_sec;
}

__attribute__((visibility("default"))) int timerfd_create(clockid_t clock, int flags) noexcept {
    static const TimerfdCreateFn fn = real<TimerfdCreateFn>("timerfd_create");
    current_offset_ns(); // the watching thread runs before the timer can be armed
    const int fd = fn(clock, flags);
    if (fd < 0 || (clock != CLOCK_REALTIME && clock != CLOCK_REALTIME_ALARM)) {
        return fd;
    }
    const std::lock_guard lock(step_mutex);
    for (TimerEntry& t : timers) {
        if (t.fd < 0) {
            t = TimerEntry{};
            t.fd = fd;
            return fd;
        }
    }
    std::fprintf(stderr, "clock-emulator: more than %zu realtime timerfds: fd %d not emulated\n",
                 max_timers, fd);
    return fd;
}

__attribute__((visibility("default"))) int
timerfd_settime(int fd, int flags, const itimerspec* value, itimerspec* old) noexcept {
    std::unique_lock lock(step_mutex);
    TimerEntry* t = find_timer(fd);
    if (t == nullptr || value == nullptr) {
        lock.unlock();
        return real_timerfd_settime(fd, flags, value, old);
    }
    itimerspec translated = *value;
    if ((flags & TFD_TIMER_ABSTIME) != 0 && to_ns(value->it_value) != 0) {
        translated.it_value = to_timespec(to_ns(value->it_value) - offset_ns.load());
    }
    const int result = real_timerfd_settime(fd, flags, &translated, old);
    if (result != 0) {
        return result;
    }
    const bool was_cancelled = t->might_cancel && t->cancelled;
    if (t->cancelled) {
        t->cancelled = false;
        pending_cancels.fetch_sub(1);
    }
    t->flags = flags;
    t->value = *value;
    t->might_cancel = (flags & TFD_TIMER_ABSTIME) != 0 && (flags & TFD_TIMER_CANCEL_ON_SET) != 0;
    if (was_cancelled) {
        // timerfd_create(2), NOTES: re-armed, and the caller told.
        errno = ECANCELED;
        return -1;
    }
    return 0;
}

__attribute__((visibility("default"))) ssize_t read(int fd, void* buffer, size_t size) {
    return emulated_fd_read(fd, buffer, size);
}

// The _FORTIFY_SOURCE entry point, with glibc's check.
__attribute__((visibility("default"))) ssize_t __read_chk(int fd, void* buffer, size_t size,
                                                          size_t buffer_size) {
    if (size > buffer_size) {
        std::fprintf(stderr, "clock-emulator: __read_chk: buffer overflow\n");
        std::abort();
    }
    return emulated_fd_read(fd, buffer, size);
}

__attribute__((visibility("default"))) int close(int fd) {
    static const CloseFn fn = real<CloseFn>("close");
    {
        const std::lock_guard lock(step_mutex);
        if (TimerEntry* t = find_timer(fd)) {
            if (t->cancelled) {
                pending_cancels.fetch_sub(1);
            }
            *t = TimerEntry{};
        }
    }
    return fn(fd);
}

// For the PPS emulator: the offset of the process's CLOCK_REALTIME from the
// kernel's at kernel time `at_ns` (its pulse stamps are taken at the edge).
__attribute__((visibility("default"))) std::int64_t
shmrefclock_clock_emulator_offset_at(std::int64_t at_ns) {
    current_offset_ns();
    const std::lock_guard lock(step_mutex);
    for (std::size_t i = history_count; i > 0; --i) {
        if (history[i - 1].at_ns <= at_ns) {
            return history[i - 1].offset_ns;
        }
    }
    return initial_offset_ns;
}

} // extern "C"

namespace {

// Read the offset and start watching at load, before the application runs.
__attribute__((constructor)) void load() {
    current_offset_ns();
}

} // namespace
