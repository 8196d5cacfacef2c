// The checks that compare refclocks with each other, once each has been
// read on its own: unique names, units and SOCK paths, a SOCK path that is
// not the control socket, a pps lock that names a refclock that tells the
// time, a pps refclock without a device only when its lock makes one.
#pragma once

#include <vector>

#include "config/config.hpp"
#include "config/toml_reader.hpp"
#include "config/validator.hpp"

namespace shmrefclock {

// `tables` are the [[refclock]] tables that config.refclocks were read
// from, in order; usable[i] is false for one that is left out (its name,
// unit, source or lock was refused).
void check_refclocks_together(Validator& v, const toml::Array& tables, const Config& config,
                              const std::vector<bool>& usable);

} // namespace shmrefclock
