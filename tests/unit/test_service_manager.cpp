// The service manager's two interfaces, spoken without libsystemd
// (io/service_manager.hpp): the notification datagram on $NOTIFY_SOCKET
// (a path or an abstract socket) and the watchdog's environment. The real
// systemd reads them in tests/system/systemd-container.sh.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/service_manager.hpp"
#include "io/unique_fd.hpp"

using namespace shmrefclock;

namespace {

// A datagram socket bound at `name` ('@' first: abstract), as systemd binds
// the notification socket it names in $NOTIFY_SOCKET.
UniqueFd bound_socket(const std::string& name) {
    UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(name.size() < sizeof(address.sun_path));
    name.copy(address.sun_path, name.size());
    if (name[0] == '@') {
        address.sun_path[0] = '\0';
    }
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                               (name[0] == '@' ? 0 : 1));
    REQUIRE(bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0);
    return fd;
}

std::string receive(const UniqueFd& fd) {
    char buffer[256];
    const ssize_t n = recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    return n < 0 ? std::string("(nothing)") : std::string(buffer, static_cast<std::size_t>(n));
}

// Restores $NOTIFY_SOCKET when a case ends.
struct NotifySocketVariable {
    explicit NotifySocketVariable(const std::string& value) {
        setenv("NOTIFY_SOCKET", value.c_str(), 1);
    }
    ~NotifySocketVariable() { unsetenv("NOTIFY_SOCKET"); }
};

} // namespace

TEST_CASE("notify sends one datagram to a socket named by its path") {
    char directory[] = "/tmp/service-manager-XXXXXX";
    REQUIRE(mkdtemp(directory) != nullptr);
    const std::string path = std::string(directory) + "/notify";
    {
        const UniqueFd listener = bound_socket(path);
        const NotifySocketVariable variable(path);
        CHECK(service_manager::notify("READY=1"));
        CHECK(receive(listener) == "READY=1");
        CHECK(service_manager::notify("RELOADING=1\nMONOTONIC_USEC=12"));
        CHECK(receive(listener) == "RELOADING=1\nMONOTONIC_USEC=12");
    }
    unlink(path.c_str());
    rmdir(directory);
}

TEST_CASE("notify reaches an abstract socket named with '@'") {
    const std::string name = "@shmrefclock-test-" + std::to_string(getpid());
    const UniqueFd listener = bound_socket(name);
    const NotifySocketVariable variable(name);
    CHECK(service_manager::notify("WATCHDOG=1"));
    CHECK(receive(listener) == "WATCHDOG=1");
}

TEST_CASE("notify without a reachable socket reports false and does nothing else") {
    unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(service_manager::notify("READY=1"));
    {
        const NotifySocketVariable variable("relative/path");
        CHECK_FALSE(service_manager::notify("READY=1"));
    }
    {
        const NotifySocketVariable variable("vsock:2:1234"); // not supported
        CHECK_FALSE(service_manager::notify("READY=1"));
    }
    {
        const NotifySocketVariable variable("/nonexistent/notify");
        CHECK_FALSE(service_manager::notify("READY=1"));
    }
    {
        const NotifySocketVariable variable("/" + std::string(200, 'x')); // over sun_path
        CHECK_FALSE(service_manager::notify("READY=1"));
    }
}

TEST_CASE("the watchdog period is taken only when it is ours and well-formed") {
    using service_manager::watchdog_usec_from;
    CHECK(watchdog_usec_from("400000", nullptr, 42) == 400000u);
    CHECK(watchdog_usec_from("400000", "42", 42) == 400000u);
    CHECK_FALSE(watchdog_usec_from("400000", "43", 42)); // a parent's watchdog
    CHECK_FALSE(watchdog_usec_from("400000", "4x", 42));
    CHECK_FALSE(watchdog_usec_from("400000", "", 42));
    CHECK_FALSE(watchdog_usec_from(nullptr, nullptr, 42));
    CHECK_FALSE(watchdog_usec_from("", nullptr, 42));
    CHECK_FALSE(watchdog_usec_from("0", nullptr, 42));
    CHECK_FALSE(watchdog_usec_from("-5", nullptr, 42));
    CHECK_FALSE(watchdog_usec_from("12s", nullptr, 42));
    CHECK_FALSE(watchdog_usec_from("99999999999999999999999", nullptr, 42));
}
