#include "daemon/realtime.hpp"

#include <cerrno>
#include <cstring>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shmrefclock {

namespace {

// The stack of each thread started once memory is locked.
constexpr std::size_t locked_thread_stack = 256 * 1024;

struct Policy {
    int policy = SCHED_OTHER; // without SCHED_RESET_ON_FORK
    bool reset_on_fork = false;
    int priority = 0;
};

Policy current_policy() {
    Policy now;
    const int policy = ::sched_getscheduler(0);
    now.policy = policy & ~SCHED_RESET_ON_FORK;
    now.reset_on_fork = (policy & SCHED_RESET_ON_FORK) != 0;
    sched_param param{};
    now.priority = ::sched_getparam(0, &param) == 0 ? param.sched_priority : 0;
    return now;
}

// Whether this process may lock memory beyond RLIMIT_MEMLOCK (CAP_IPC_LOCK
// in its effective set). The raw call: glibc has no wrapper, and libcap is
// not linked for one bit.
bool has_ipc_lock() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        return false;
    }
    return (data[CAP_IPC_LOCK / 32].effective & (1U << (CAP_IPC_LOCK % 32))) != 0;
}

} // namespace

void apply_sched_priority(int priority) {
    const Policy now = current_policy();
    if (priority == 0) {
        if (now.policy != SCHED_FIFO) {
            return; // the normal policy already: nothing to say
        }
        sched_param param{};
        if (::sched_setscheduler(0, SCHED_OTHER, &param) == 0) {
            spdlog::info("sched-priority = 0: the event loop runs at the normal policy");
        } else {
            spdlog::warn("sched-priority = 0, but the event loop runs SCHED_FIFO at priority {} "
                         "(set before the daemon started) and cannot leave it: {}",
                         now.priority, std::strerror(errno));
        }
        return;
    }
    if (now.policy == SCHED_FIFO && now.priority == priority && now.reset_on_fork) {
        // systemd's CPUSchedulingPolicy= (systemd/realtime.conf) set it
        // before the daemon started, as the hardened unit wants: the
        // daemon itself may not (RestrictRealtime=yes).
        spdlog::info("sched-priority = {}: the event loop runs SCHED_FIFO at priority {}", priority,
                     priority);
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
    spdlog::warn("sched-priority = {}: cannot run SCHED_FIFO: {}; running at {} (it needs "
                 "CAP_SYS_NICE or RLIMIT_RTPRIO of at least {}; under systemd, the drop-in "
                 "/usr/share/doc/shmrefclock/examples/realtime.conf with "
                 "CPUSchedulingPriority={})",
                 priority, std::strerror(error),
                 now.policy == SCHED_FIFO ? fmt::format("SCHED_FIFO priority {}", now.priority)
                                          : std::string("the normal policy"),
                 priority, priority);
}

void apply_memory_lock(bool lock) {
    if (!lock) {
        // A reload that turns it off (nothing is locked otherwise).
        ::munlockall();
        return;
    }
    // MCL_FUTURE under a finite RLIMIT_MEMLOCK would make every allocation
    // past the limit fail (a thread's stack, a rendering): lock only when
    // nothing limits it.
    rlimit limit{};
    const bool unlimited =
        ::getrlimit(RLIMIT_MEMLOCK, &limit) == 0 && limit.rlim_cur == RLIM_INFINITY;
    if (!unlimited && !has_ipc_lock()) {
        spdlog::warn("lock-memory = true: not locking: RLIMIT_MEMLOCK is {} kB and the daemon "
                     "lacks CAP_IPC_LOCK, and once locked, every later allocation past the limit "
                     "would fail; running unlocked (under systemd: LimitMEMLOCK=infinity, as the "
                     "drop-in /usr/share/doc/shmrefclock/examples/realtime.conf sets)",
                     limit.rlim_cur / 1024);
        return;
    }
    // Locked, a thread's stack is resident whole: glibc's default (8 MiB,
    // RLIMIT_STACK) would cost 8 MiB a thread. The threads the daemon starts
    // afterwards (renderer, PPS readers, resolver) use a few kB.
    pthread_attr_t attributes;
    if (::pthread_attr_init(&attributes) == 0) {
        ::pthread_attr_setstacksize(&attributes, locked_thread_stack);
        ::pthread_setattr_default_np(&attributes);
        ::pthread_attr_destroy(&attributes);
    }
    if (::mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
        spdlog::info("lock-memory = true: the daemon's memory is locked (never paged out)");
        return;
    }
    spdlog::warn("lock-memory = true: cannot lock memory: {}; running unlocked",
                 std::strerror(errno));
}

} // namespace shmrefclock
