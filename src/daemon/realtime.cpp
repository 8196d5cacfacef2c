#include "daemon/realtime.hpp"

#include <cerrno>
#include <cstring>
#include <sched.h>
#include <sys/mman.h>

#include <spdlog/spdlog.h>

namespace shmrefclock {

namespace {

// The current policy of the calling thread, for the log and to do nothing
// when nothing changes (a reload with the same setting).
int current_policy(int& priority) {
    sched_param param{};
    const int policy = ::sched_getscheduler(0);
    priority = ::sched_getparam(0, &param) == 0 ? param.sched_priority : 0;
    return policy & ~SCHED_RESET_ON_FORK;
}

} // namespace

void apply_sched_priority(int priority) {
    int now_priority = 0;
    const int now_policy = current_policy(now_priority);
    if (priority == 0) {
        if (now_policy != SCHED_FIFO) {
            return; // the normal policy already: nothing to say
        }
        sched_param param{};
        if (::sched_setscheduler(0, SCHED_OTHER, &param) == 0) {
            spdlog::info("sched-priority = 0: the event loop runs at the normal policy again");
        } else {
            spdlog::warn("sched-priority = 0: cannot leave SCHED_FIFO: {}", std::strerror(errno));
        }
        return;
    }
    if (now_policy == SCHED_FIFO && now_priority == priority) {
        return;
    }
    sched_param param{};
    param.sched_priority = priority;
    if (::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0) {
        spdlog::info("sched-priority = {}: the event loop runs SCHED_FIFO at priority {}", priority,
                     priority);
        return;
    }
    const int error = errno;
    spdlog::warn("sched-priority = {}: cannot run SCHED_FIFO: {}; running at the normal policy "
                 "(it needs CAP_SYS_NICE or RLIMIT_RTPRIO of at least {}: under systemd, the "
                 "drop-in /usr/share/doc/shmrefclock/examples/realtime.conf)",
                 priority, std::strerror(error), priority);
}

void apply_memory_lock(bool lock) {
    if (!lock) {
        // Harmless when nothing is locked; a reload that turns it off.
        ::munlockall();
        return;
    }
    if (::mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
        spdlog::info("lock-memory = true: the daemon's memory is locked (never paged out)");
        return;
    }
    const int error = errno;
    spdlog::warn("lock-memory = true: cannot lock memory: {}; running unlocked (it needs "
                 "CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK: under systemd, the drop-in "
                 "/usr/share/doc/shmrefclock/examples/realtime.conf)",
                 std::strerror(error));
}

} // namespace shmrefclock
