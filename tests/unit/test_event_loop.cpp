// io/event_loop: receivers are served before, and between, the other
// handlers of one wake-up, so a stamp waits for at most one other handler
// (issue 18, item 4). Pipes stand for the fds: the order of the handlers is
// what is checked, never a duration.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "io/event_loop.hpp"
#include "io/unique_fd.hpp"

using namespace shmrefclock;

namespace {

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
    Pipe() {
        int fds[2];
        REQUIRE(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
        read_end = UniqueFd(fds[0]);
        write_end = UniqueFd(fds[1]);
    }
    void put() const { REQUIRE(::write(write_end.get(), "x", 1) == 1); }
    void take() const {
        char byte;
        REQUIRE(::read(read_end.get(), &byte, 1) == 1);
    }
};

std::int64_t monotonic_now() {
    return stamp_now().monotonic_ns;
}

} // namespace

TEST_CASE(
    "event loop: a receiver ready during a client's handler is served before the next client") {
    EventLoop loop;
    Pipe client_a, client_b, receiver;
    std::vector<std::string> order;
    std::int64_t written_ns = 0;
    Stamp receiver_stamp{};
    Stamp client_stamp{};
    // Both clients are ready at the one wake-up; whichever runs first makes
    // the receiver ready (a cycle's first byte arriving mid-batch).
    auto client = [&](const Pipe& pipe, const char* name) {
        return [&, name](const Stamp& stamp) {
            pipe.take();
            order.emplace_back(name);
            client_stamp = stamp;
            if (order.size() == 1) {
                written_ns = monotonic_now();
                receiver.put();
            }
            if (order.size() == 3) {
                loop.stop();
            }
        };
    };
    loop.watch(client_a.read_end.get(), client(client_a, "client"));
    loop.watch(client_b.read_end.get(), client(client_b, "client"));
    loop.watch_receiver(receiver.read_end.get(), [&](const Stamp& stamp) {
        receiver.take();
        order.emplace_back("receiver");
        receiver_stamp = stamp;
        if (order.size() == 3) {
            loop.stop();
        }
    });
    client_a.put();
    client_b.put();
    loop.run();

    CHECK(order == std::vector<std::string>{"client", "receiver", "client"});
    // A fresh stamp, taken after the byte came, not the wake-up's: that one
    // predates the byte, and the receiver would be stamped early.
    CHECK(receiver_stamp.monotonic_ns >= written_ns);
    CHECK(client_stamp.monotonic_ns < written_ns);
}

TEST_CASE("event loop: a receiver ready at the wake-up is served first, with the wake-up's stamp") {
    EventLoop loop;
    Pipe client, receiver;
    std::vector<std::string> order;
    Stamp receiver_stamp{}, client_stamp{};
    loop.watch(client.read_end.get(), [&](const Stamp& stamp) {
        client.take();
        order.emplace_back("client");
        client_stamp = stamp;
        loop.stop();
    });
    loop.watch_receiver(receiver.read_end.get(), [&](const Stamp& stamp) {
        receiver.take();
        order.emplace_back("receiver");
        receiver_stamp = stamp;
    });
    client.put();
    receiver.put();
    loop.run();

    CHECK(order == std::vector<std::string>{"receiver", "client"});
    CHECK(receiver_stamp.monotonic_ns == client_stamp.monotonic_ns);
}

TEST_CASE("event loop: a clock step is handled before a receiver ready beside it") {
    EventLoop loop;
    Pipe step, receiver;
    std::vector<std::string> order;
    loop.watch_receiver(receiver.read_end.get(), [&](const Stamp&) {
        receiver.take();
        order.emplace_back("receiver");
        loop.stop();
    });
    loop.watch_first(step.read_end.get(), [&](const Stamp&) {
        step.take();
        order.emplace_back("step");
    });
    receiver.put();
    step.put();
    loop.run();

    CHECK(order == std::vector<std::string>{"step", "receiver"});
}

TEST_CASE("event loop: a receiver unwatched by a client's handler is not called") {
    EventLoop loop;
    Pipe client, receiver, last;
    bool receiver_called = false;
    EventLoop::Registration receiver_watch = 0;
    receiver_watch =
        loop.watch_receiver(receiver.read_end.get(), [&](const Stamp&) { receiver_called = true; });
    loop.watch(client.read_end.get(), [&](const Stamp&) {
        client.take();
        loop.unwatch(receiver_watch);
        receiver.put();
        last.put();
    });
    loop.watch(last.read_end.get(), [&](const Stamp&) {
        last.take();
        loop.stop();
    });
    client.put();
    loop.run();

    CHECK_FALSE(receiver_called);
}

TEST_CASE("event loop: alarms armed from one wake-up for one delay fire in one wake-up") {
    EventLoop loop;
    Pipe start;
    std::vector<int> fired;
    std::vector<std::int64_t> fired_at;
    std::int64_t armed_at = 0;
    std::vector<EventLoop::Alarm> alarms;
    for (int i = 0; i < 3; ++i) {
        alarms.push_back(loop.add_alarm([&, i](const Stamp& stamp) {
            fired.push_back(i);
            fired_at.push_back(stamp.monotonic_ns);
            if (fired.size() == 3) {
                loop.stop();
            }
        }));
    }
    loop.watch(start.read_end.get(), [&](const Stamp& stamp) {
        start.take();
        armed_at = stamp.monotonic_ns;
        // In reverse: the order they fire in is their deadlines', then the
        // order they were added.
        for (int i = 2; i >= 0; --i) {
            loop.arm_alarm(alarms[static_cast<std::size_t>(i)], 2'000'000, 0);
        }
    });
    start.put();
    loop.run();
    CHECK(fired == std::vector<int>{0, 1, 2});
    // One wake-up: the same stamp for all three, and none before the
    // deadline counted from the wake-up that armed them.
    CHECK(fired_at[0] == fired_at[1]);
    CHECK(fired_at[1] == fired_at[2]);
    CHECK(fired_at[0] >= armed_at + 2'000'000);
}

TEST_CASE("event loop: a periodic alarm repeats until disarmed, and a removed alarm never fires") {
    EventLoop loop;
    int ticks = 0;
    bool removed_fired = false;
    const auto removed = loop.add_alarm([&](const Stamp&) { removed_fired = true; });
    EventLoop::Alarm periodic = 0;
    periodic = loop.add_alarm([&](const Stamp&) {
        if (++ticks == 3) {
            loop.disarm_alarm(periodic);
            // A last one-shot alarm ends the run after the periodic one
            // would have fired again had it not been disarmed.
            const auto last = loop.add_alarm([&](const Stamp&) { loop.stop(); });
            loop.arm_alarm(last, 5'000'000, 0);
        }
    });
    loop.arm_alarm(removed, 1'000'000, 0);
    loop.remove_alarm(removed);
    loop.arm_alarm(periodic, 1'000'000, 1'000'000);
    loop.run();
    CHECK(ticks == 3);
    CHECK_FALSE(removed_fired);
}

TEST_CASE("event loop: a one-shot receiver watch pauses after its wake-up until resumed") {
    EventLoop loop;
    Pipe receiver, other;
    int served = 0;
    EventLoop::Registration watch = 0;
    watch = loop.watch_receiver_once(receiver.read_end.get(), [&](const Stamp&) {
        ++served;
        CHECK(loop.paused(watch));
        // Nothing read: a level-triggered watch would be served again at
        // once. This one is not until resumed.
        other.put();
    });
    int other_calls = 0;
    loop.watch(other.read_end.get(), [&](const Stamp&) {
        other.take();
        // Level-triggered, the receiver (its byte unread) would have been
        // served again before this handler, at the same wake-up.
        if (++other_calls == 1) {
            CHECK(served == 1);
            // Paused: the byte still queued does not wake the loop; resume.
            loop.resume(watch);
            CHECK_FALSE(loop.paused(watch));
        } else {
            loop.stop();
        }
    });
    receiver.put();
    loop.run();
    CHECK(served == 2);
}
