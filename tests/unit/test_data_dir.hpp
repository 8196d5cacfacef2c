// Where tests/data is, for the unit tests that read captures and the man
// page: $SHMREFCLOCK_TEST_DATA_DIR, which tests/unit/meson.build sets for
// every unit test, else "tests/data" (a program run by hand from the source
// tree). Read at run time rather than compiled in, so that no test object
// carries the clone's directory: another clone of the same commit finds
// it in ccache (tests/run.sh).
#pragma once

#include <cstdlib>
#include <string>

namespace shmrefclock::test {

inline std::string test_data_dir() {
    const char* dir = std::getenv("SHMREFCLOCK_TEST_DATA_DIR");
    return dir != nullptr && *dir != '\0' ? dir : "tests/data";
}

} // namespace shmrefclock::test
