// Helpers shared by the LD_PRELOAD emulators (tests/pps-emulator,
// tests/clock-emulator): finding the function an interposed one stands in
// for, and appending a line to a trace file. Header-only, plain functions
// over no static state of their own: an emulator may be called before its
// static constructors have run.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <dlfcn.h>

namespace preload {

// The next definition of `name` after the calling library in the lookup
// order (libc's, or the next preloaded emulator's): every emulator chains to
// the next one this way, so that several compose in any LD_PRELOAD order.
template <typename Fn> Fn real(const char* name) {
    void* symbol = dlsym(RTLD_NEXT, name);
    Fn fn = nullptr;
    static_assert(sizeof fn == sizeof symbol);
    std::memcpy(&fn, &symbol, sizeof fn);
    return fn;
}

// A definition anywhere in the process (RTLD_DEFAULT): how one emulator
// finds an optional hook that another exports. Null when none is loaded.
template <typename Fn> Fn optional(const char* name) {
    void* symbol = dlsym(RTLD_DEFAULT, name);
    Fn fn = nullptr;
    static_assert(sizeof fn == sizeof symbol);
    std::memcpy(&fn, &symbol, sizeof fn);
    return fn;
}

// Append one formatted line to the file at `path` (nothing when `path` is
// null or empty). fopen() uses glibc's internal open, not an interposed one.
// Callers that trace from several threads serialise the calls themselves.
inline void vappend_line(const char* path, const char* format, std::va_list args) {
    if (path == nullptr || *path == '\0') {
        return;
    }
    FILE* file = std::fopen(path, "a");
    if (file == nullptr) {
        return;
    }
    std::vfprintf(file, format, args);
    std::fputc('\n', file);
    std::fclose(file);
}

inline void append_line(const char* path, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

inline void append_line(const char* path, const char* format, ...) {
    std::va_list args;
    va_start(args, format);
    vappend_line(path, format, args);
    va_end(args);
}

} // namespace preload
