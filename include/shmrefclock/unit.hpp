// SHM refclock units: the numbers a configuration names and the SysV keys
// the NTP daemons derive from them (ntpd's refclock_shm.c: "NTP0" + unit).
// Wire facts only, so that the configuration can validate a unit without
// knowing anything of segments.
#pragma once

#include <sys/types.h>

namespace shmrefclock {

constexpr int shm_unit_max = 255;
constexpr key_t shm_key_base = 0x4e545030; // "NTP0"
constexpr key_t shm_key(int unit) {
    return shm_key_base + unit;
}

} // namespace shmrefclock
