// `shmrefclock --check-config`: what a valid configuration would run.
#pragma once

#include <string>

#include "config/config.hpp"

namespace shmrefclock {

// One line per refclock: its source, outputs and settings.
std::string describe(const Config& config);

} // namespace shmrefclock
