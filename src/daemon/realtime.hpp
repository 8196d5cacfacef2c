// [daemon] sched-priority and lock-memory (shmrefclock.conf(5)): the event
// loop that stamps at a real-time priority, and the daemon's memory locked,
// as chronyd's -P and -m offer. Off by default. A stamp is taken when the
// loop wakes; under load from other processes the scheduler can make it
// late by milliseconds, and a page fault on a path that was swapped out
// likewise (bench/README.md measures p50/p99 with and without).
//
// SCHED_FIFO is for the calling thread (the loop's) with
// SCHED_RESET_ON_FORK, so that the threads the daemon starts after it (the
// renderer of the views, the PPS fetch threads, the resolver) start at the
// normal policy and never compete with the loop. Under the hardened systemd
// unit the daemon may not raise its own policy (RestrictRealtime=yes): the
// opt-in drop-in systemd/realtime.conf has systemd set it before the daemon
// starts (CPUSchedulingPolicy=fifo, CPUSchedulingResetOnFork=yes), and the
// daemon finds it in place. Never fatal: what the system does not allow is
// one warning naming what would, and the daemon runs on.
#pragma once

namespace shmrefclock {

// SCHED_FIFO at `priority` (1..99) for the calling thread, or back to
// SCHED_OTHER for 0. Logs what it did, or why it could not.
void apply_sched_priority(int priority);

// mlockall(MCL_CURRENT | MCL_FUTURE) when `lock`, munlockall otherwise (a
// reload that turns it off). Logs what it did, or why it could not.
void apply_memory_lock(bool lock);

} // namespace shmrefclock
