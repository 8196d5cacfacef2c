// The fuzz targets' assertion: a broken invariant must abort, so that
// libFuzzer keeps the input as a crash, in every build (assert() is gone
// under NDEBUG, and a Catch2 check would not stop the fuzzer).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);     \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)
