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
// Keys (numbers in C syntax: 0x.., negative allowed):
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
// Written as plain functions over plain data (no static constructors): the
// library may be called before its own initialisers have run.

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <dlfcn.h>
#include <sys/timex.h>
#include <unistd.h>

namespace {

template <typename Fn> Fn real(const char* name) {
    void* symbol = dlsym(RTLD_NEXT, name);
    Fn fn = nullptr;
    static_assert(sizeof fn == sizeof symbol);
    std::memcpy(&fn, &symbol, sizeof fn);
    return fn;
}

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

// The emulated reading: the real one, then the environment's words, then
// the file's. -1 with errno set on a bad word.
int emulated_read(timex* tx) {
    const int real_state = real_read(CLOCK_REALTIME, tx);
    if (real_state < 0) {
        return -1;
    }
    Override o;
    const long status_before = tx->status;
    if (const char* inline_text = std::getenv("SHMREFCLOCK_CLOCK_STATE")) {
        char buffer[4096];
        std::snprintf(buffer, sizeof buffer, "%s", inline_text);
        if (!apply_text(buffer, "SHMREFCLOCK_CLOCK_STATE", *tx, o)) {
            errno = EINVAL;
            return -1;
        }
    }
    if (const char* path = std::getenv("SHMREFCLOCK_CLOCK_FILE")) {
        if (FILE* file = std::fopen(path, "r")) {
            char buffer[4096];
            const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, file);
            std::fclose(file);
            buffer[n] = '\0';
            if (!apply_text(buffer, path, *tx, o)) {
                errno = EINVAL;
                return -1;
            }
        }
    }
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
    const char* path = std::getenv("SHMREFCLOCK_CLOCK_TRACE");
    if (path == nullptr || *path == '\0') {
        return;
    }
    if (FILE* file = std::fopen(path, "a")) {
        std::fprintf(file, "%s modes=%#x result=%d status=%#x maxerror=%ld\n", function, modes,
                     result, tx != nullptr ? static_cast<unsigned>(tx->status) : 0U,
                     tx != nullptr ? tx->maxerror : 0L);
        std::fclose(file);
    }
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
    clock_gettime(CLOCK_REALTIME, &now);
    ntv->time.tv_sec = now.tv_sec;
    ntv->time.tv_usec = (tx.status & STA_NANO) != 0 ? now.tv_nsec : now.tv_nsec / 1000;
    ntv->maxerror = tx.maxerror;
    ntv->esterror = tx.esterror;
    ntv->tai = tx.tai;
    return result;
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

} // extern "C"
