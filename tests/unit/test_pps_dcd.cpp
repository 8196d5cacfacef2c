// pps = "dcd": finding the /dev/ppsN that the PPS line discipline registered
// for a tty, on a fake sysfs tree shaped like the kernel's (pps-ldisc writes
// "/dev/<driver name><index>\n" to /sys/class/pps/ppsN/path; the entries are
// symlinks to /sys/devices/virtual/pps/ppsN), and the TIOCSETD error path.
#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <unistd.h>

#include "io/unique_fd.hpp"
#include "sources/pps_dcd.hpp"

using namespace shmrefclock;
namespace fs = std::filesystem;

namespace {

// A private directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "test_pps_dcd.XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// /sys/devices/virtual/pps/<name>/path holding `content`, linked from
// /sys/class/pps/<name> as the kernel does.
void add_pps(const fs::path& sysfs, const std::string& name, const std::string* content) {
    const fs::path device = sysfs / "devices" / "virtual" / "pps" / name;
    fs::create_directories(device);
    if (content != nullptr) {
        std::ofstream(device / "path") << *content;
    }
    fs::create_directories(sysfs / "class" / "pps");
    fs::create_directory_symlink(fs::path("../../devices/virtual/pps") / name,
                                 sysfs / "class" / "pps" / name);
}

void add_pps(const fs::path& sysfs, const std::string& name, const std::string& content) {
    add_pps(sysfs, name, &content);
}

} // namespace

TEST_CASE("the PPS device registered for a tty is found by its path") {
    TempDir root;
    const fs::path sysfs = root.path();
    add_pps(sysfs, "pps0", "/dev/ttyS0\n");
    add_pps(sysfs, "pps1", "/dev/ttyUSB0\n");
    add_pps(sysfs, "pps2", "\n");    // pps-gpio: no path
    add_pps(sysfs, "pps3", nullptr); // no path attribute at all
    add_pps(sysfs, "pps10", "/dev/ttyUSB1\n");

    CHECK(find_pps_device_for_tty(sysfs, "ttyUSB0") == "/dev/pps1");
    CHECK(find_pps_device_for_tty(sysfs, "/dev/ttyUSB0") == "/dev/pps1");
    CHECK(find_pps_device_for_tty(sysfs, "ttyS0") == "/dev/pps0");
    CHECK(find_pps_device_for_tty(sysfs, "ttyUSB1") == "/dev/pps10");
    CHECK(find_pps_device_for_tty(sysfs, "ttyUSB1\n") == "/dev/pps10");
}

TEST_CASE("no match, partial names and unreadable trees give nothing") {
    TempDir root;
    const fs::path sysfs = root.path();
    add_pps(sysfs, "pps0", "/dev/ttyS0\n");
    add_pps(sysfs, "pps1", "/dev/ttyS01\n");
    // Not a PPS device directory, though its path would match.
    fs::create_directories(sysfs / "class" / "pps" / "ppsx");
    std::ofstream(sysfs / "class" / "pps" / "ppsx" / "path") << "/dev/ttyACM0\n";

    CHECK_FALSE(find_pps_device_for_tty(sysfs, "ttyACM0"));
    CHECK_FALSE(find_pps_device_for_tty(sysfs, "ttyS"));
    CHECK_FALSE(find_pps_device_for_tty(sysfs, "S0"));
    CHECK(find_pps_device_for_tty(sysfs, "ttyS01") == "/dev/pps1");
    CHECK_FALSE(find_pps_device_for_tty(sysfs, ""));
    CHECK_FALSE(find_pps_device_for_tty(sysfs, "/dev/"));
    CHECK_FALSE(find_pps_device_for_tty(sysfs / "missing", "ttyS0"));

    TempDir empty;
    CHECK_FALSE(find_pps_device_for_tty(empty.path(), "ttyS0")); // no class/pps
}

TEST_CASE("two sources naming the same tty: the lowest number, not the first name") {
    TempDir root;
    const fs::path sysfs = root.path();
    // "pps12" sorts before "pps4" as a string.
    add_pps(sysfs, "pps12", "/dev/ttyAMA0\n");
    add_pps(sysfs, "pps4", "/dev/ttyAMA0\n");
    CHECK(find_pps_device_for_tty(sysfs, "ttyAMA0") == "/dev/pps4");
}

TEST_CASE("the line discipline cannot be attached to what is not a tty") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    try {
        attach_pps_line_discipline(read_end.get());
        FAIL("TIOCSETD on a pipe succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOTTY);
        const std::string what = e.what();
        CHECK(what.find("TIOCSETD N_PPS") != std::string::npos);
        CHECK(what.find("not a tty") != std::string::npos);
    }

    try {
        attach_pps_line_discipline(-1);
        FAIL("TIOCSETD on fd -1 succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EBADF);
    }
}
