/* bench/waker: the floor under bench/many.py's CPU figure. It wakes
 * RATE times a second on a timerfd (epoll_wait, then the timerfd's read:
 * as the daemon's loop does) and does nothing else, until killed. Its CPU
 * is what the machine charges for the wake-ups alone: on a VM that is
 * most of a daemon's CPU at 30 wake-ups a second (bench/README.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2 || atof(argv[1]) <= 0) {
        fprintf(stderr, "usage: waker RATE (wake-ups a second)\n");
        return 2;
    }
    const long period_ns = (long)(1e9 / atof(argv[1]));
    const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    const int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct itimerspec spec = {{period_ns / 1000000000, period_ns % 1000000000},
                              {period_ns / 1000000000, period_ns % 1000000000}};
    struct epoll_event event = {.events = EPOLLIN};
    if (timer < 0 || epoll < 0 || timerfd_settime(timer, 0, &spec, NULL) != 0 ||
        epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &event) != 0) {
        perror("waker");
        return 1;
    }
    for (;;) {
        struct epoll_event ready;
        uint64_t expirations;
        if (epoll_wait(epoll, &ready, 1, -1) == 1 &&
            read(timer, &expirations, sizeof expirations) < 0) {
            perror("waker: read");
            return 1;
        }
    }
}
