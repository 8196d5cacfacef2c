// Which declarations libshmrefclock.so exports. The library is built with
// -fvisibility=hidden so that only the documented API (shmrefclock(3)) is
// in its ABI, and with it in the symbols file a Debian libshmrefclock0
// package carries; fmt and the helpers it uses internally stay private.
#pragma once

#if defined(__GNUC__)
#define SHMREFCLOCK_API __attribute__((visibility("default")))
#else
#define SHMREFCLOCK_API
#endif
