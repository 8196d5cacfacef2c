// `shmrefclock status` formatting, from hand-made kernel values and unit
// snapshots: every unit conversion (us/ns by STA_NANO, ppm * 65536) and every
// STA_ bit name, with expected text worked out by hand.
#include <catch2/catch.hpp>

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "tools/status.hpp"

using namespace shmrefclock;

namespace {

// Kernel bit values from include/uapi/linux/timex.h, written out here so
// that the test does not share the table it checks.
constexpr unsigned pll = 0x0001, ppsfreq = 0x0002, ppstime = 0x0004, ins = 0x0010, unsync = 0x0040,
                   ppssignal = 0x0100, nano = 0x2000;

// A PLL+PPS-disciplined clock in nanosecond mode, a leap second pending.
KernelTimex nano_clock() {
    KernelTimex k;
    k.state = 1; // TIME_INS
    k.gettime_state = 1;
    k.status = pll | ppsfreq | ppstime | ins | ppssignal | nano; // 0x2117
    k.offset = -1234;                                            // ns (STA_NANO)
    k.freq = -819200;                                            // -12.5 ppm * 65536
    k.maxerror = 1234;                                           // us
    k.esterror = 56;                                             // us
    k.constant = 7;
    k.precision = 1;        // us
    k.tolerance = 32768000; // 500 ppm * 65536
    k.tick = 10000;         // us
    k.ppsfreq = 98304;      // 1.5 ppm * 65536
    k.jitter = 789;         // ns (STA_NANO)
    k.shift = 4;            // 16 s
    k.stabil = 6554;        // 6554 / 65536 = 0.1000061... ppm
    k.calcnt = 12;
    k.errcnt = 1;
    k.jitcnt = 2;
    k.stbcnt = 3;
    k.tai = 37;
    k.time_sec = 1700000000; // 2023-11-14T22:13:20Z (date -u -d @1700000000)
    k.time_frac = 5;         // ns (STA_NANO)
    return k;
}

// An unsynchronized clock in microsecond mode, kernel without NTP PPS.
KernelTimex micro_clock() {
    KernelTimex k;
    k.state = 5; // TIME_ERROR
    k.gettime_state = 5;
    k.status = unsync;          // 0x0040
    k.offset = 5;               // us -> 5000 ns
    k.freq = 65536 * 3 + 32768; // +3.5 ppm
    k.maxerror = 16000000;
    k.esterror = 16000000;
    k.constant = 2;
    k.precision = 1;
    k.tolerance = 32768000;
    k.tick = 10000;
    k.jitter = 7; // us -> 7000 ns
    k.shift = 0;
    k.time_sec = 1700000000;
    k.time_frac = 123456; // us -> .123456000
    return k;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

// A strict JSON syntax check (RFC 8259), enough to prove the document parses.
class JsonChecker {
public:
    explicit JsonChecker(std::string_view text) : s_(text) {}
    bool document() {
        ws();
        if (!value()) {
            return false;
        }
        ws();
        return i_ == s_.size();
    }

private:
    std::string_view s_;
    std::size_t i_ = 0;
    void ws() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) {
            ++i_;
        }
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) {
            return false;
        }
        i_ += word.size();
        return true;
    }
    bool string() {
        if (i_ >= s_.size() || s_[i_] != '"') {
            return false;
        }
        for (++i_; i_ < s_.size(); ++i_) {
            const auto c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                ++i_;
                return true;
            }
            if (c < 0x20) {
                return false;
            }
            if (c == '\\') {
                ++i_;
                if (i_ >= s_.size()) {
                    return false;
                }
                if (s_[i_] == 'u') {
                    for (int n = 0; n < 4; ++n) {
                        if (++i_ >= s_.size() ||
                            !std::isxdigit(static_cast<unsigned char>(s_[i_]))) {
                            return false;
                        }
                    }
                } else if (std::string_view("\"\\/bfnrt").find(s_[i_]) == std::string_view::npos) {
                    return false;
                }
            }
        }
        return false;
    }
    bool digits() {
        const auto start = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
            ++i_;
        }
        return i_ > start;
    }
    bool number() {
        if (i_ < s_.size() && s_[i_] == '-') {
            ++i_;
        }
        if (i_ < s_.size() && s_[i_] == '0') {
            ++i_;
        } else if (!digits()) {
            return false;
        }
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (!digits()) {
                return false;
            }
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) {
                ++i_;
            }
            if (!digits()) {
                return false;
            }
        }
        return true;
    }
    bool sequence(char close, bool members) {
        ++i_;
        ws();
        if (i_ < s_.size() && s_[i_] == close) {
            ++i_;
            return true;
        }
        while (true) {
            ws();
            if (members) {
                if (!string()) {
                    return false;
                }
                ws();
                if (i_ >= s_.size() || s_[i_++] != ':') {
                    return false;
                }
                ws();
            }
            if (!value()) {
                return false;
            }
            ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == close) {
                ++i_;
                return true;
            }
            return false;
        }
    }
    bool value() {
        if (i_ >= s_.size()) {
            return false;
        }
        switch (s_[i_]) {
        case '{':
            return sequence('}', true);
        case '[':
            return sequence(']', false);
        case '"':
            return string();
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default:
            return number();
        }
    }
};

bool valid_json(const std::string& text) {
    return JsonChecker(text).document();
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

ShmSnapshot off_by_one_snapshot() {
    ShmSnapshot snap{};
    snap.mode = 1;
    snap.count = 42;
    snap.valid = 1;
    snap.sample.reference_time = {1700000000, 0};
    snap.sample.receive_time = {1700000001, 0};
    snap.sample.leap = Leap::none;
    snap.sample.precision = -20;
    return snap;
}

StatusReport report_with_refclocks() {
    StatusReport report;
    report.kernel = micro_clock();
    report.now = {1700000001, 250000000}; // 0.25 s after the sample's receive time
    report.config_path = "/etc/shmrefclock.conf";

    RefclockStatus written;
    written.name = "off-by-one";
    written.source = "system";
    UnitStatus unit2;
    unit2.unit = 2;
    SegmentInfo segment;
    segment.shmid = 3;
    segment.uid = 0;
    segment.cuid = 108;
    segment.mode = 0600;
    segment.size = 96;
    segment.nattch = 2;
    unit2.segment = segment;
    unit2.snapshot = off_by_one_snapshot();
    written.unit = unit2;
    report.refclocks.push_back(written);

    RefclockStatus absent;
    absent.name = "gps";
    absent.source = "nmea";
    UnitStatus unit7;
    unit7.unit = 7;
    absent.unit = unit7;
    absent.sock = "/run/chrony/gps \"1\".sock"; // a quote, to exercise JSON escaping
    absent.sock_problem = "No such file or directory: chronyd is not running with this SOCK "
                          "refclock";
    report.refclocks.push_back(absent);

    RefclockStatus denied;
    denied.name = "pps";
    denied.source = "pps";
    UnitStatus unit1;
    unit1.unit = 1;
    unit1.segment = SegmentInfo{5, 0, 0, 0600, 96, 1};
    unit1.problem = "SHM unit 1 (key 0x4e545031): cannot attach segment read-only: Permission "
                    "denied";
    denied.unit = unit1;
    report.refclocks.push_back(denied);
    return report;
}

} // namespace

TEST_CASE("clock states by name") {
    CHECK(clock_state_name(0) == "TIME_OK");
    CHECK(clock_state_name(1) == "TIME_INS");
    CHECK(clock_state_name(2) == "TIME_DEL");
    CHECK(clock_state_name(3) == "TIME_OOP");
    CHECK(clock_state_name(4) == "TIME_WAIT");
    CHECK(clock_state_name(5) == "TIME_ERROR");
    CHECK(clock_state_name(6) == "TIME_#6");
    CHECK(clock_state_name(-1) == "TIME_#-1");
}

TEST_CASE("every STA_ bit has its kernel name, in bit order") {
    const std::vector<std::string> expected = {
        "STA_PLL",       "STA_PPSFREQ",   "STA_PPSTIME",   "STA_FLL",
        "STA_INS",       "STA_DEL",       "STA_UNSYNC",    "STA_FREQHOLD",
        "STA_PPSSIGNAL", "STA_PPSJITTER", "STA_PPSWANDER", "STA_PPSERROR",
        "STA_CLOCKERR",  "STA_NANO",      "STA_MODE",      "STA_CLK"};
    for (unsigned bit = 0; bit < 16; ++bit) {
        INFO("bit " << bit);
        CHECK(status_bits[bit].mask == 1U << bit);
        CHECK(std::string(status_bits[bit].name) == expected[bit]);
    }
    StatusReport report;
    report.kernel.status = 0xffff;
    std::string all;
    for (const auto& name : expected) {
        all += (all.empty() ? "" : " ") + name;
    }
    CHECK(has_line(format_status(report), "  status         0xffff " + all));
    report.kernel.status = 0;
    CHECK(has_line(format_status(report), "  status         0x0000 (none)"));
}

TEST_CASE("kernel state in nanosecond mode, as text") {
    StatusReport report;
    report.kernel = nano_clock();
    report.daemon.problem = "the daemon is not running (/x/control does not exist)";
    const std::string text = format_status(report);
    INFO(text);
    // One line about the daemon that did not answer, then the kernel.
    CHECK(text.rfind("daemon: the daemon is not running (/x/control does not exist); showing the "
                     "kernel and the segments only\nkernel clock (ntp_adjtime, read-only)\n",
                     0) == 0);
    const std::vector<std::string> lines = {
        "  state          TIME_INS (1): a leap second will be inserted at the end of the UTC day",
        "  ntp_gettime    TIME_INS (1)",
        "  status         0x2117 STA_PLL STA_PPSFREQ STA_PPSTIME STA_INS STA_PPSSIGNAL STA_NANO",
        "  offset         -1234 ns",
        "  frequency      -12.500000 ppm",
        "  maxerror       1234 us",
        "  esterror       56 us",
        "  constant       7",
        "  precision      1 us",
        "  tolerance      500.000000 ppm",
        "  tick           10000 us",
        "  TAI offset     37 s",
        "  time           2023-11-14T22:13:20.000000005Z",
        "  PPS frequency  +1.500000 ppm",
        "  PPS jitter     789 ns",
        "  PPS interval   16 s (shift 4)",
        "  PPS stability  0.100006 ppm",
        "  PPS counts     calcnt 12 (calibrations), errcnt 1 (errors),",
        "                 jitcnt 2 (jitter exceeded), stbcnt 3 (stability exceeded)",
    };
    for (const auto& line : lines) {
        CHECK(has_line(text, line));
    }
    // No configuration: the kernel part only.
    CHECK_FALSE(contains(text, "refclock"));
}

TEST_CASE("kernel state in microsecond mode is shown in nanoseconds") {
    StatusReport report;
    report.kernel = micro_clock();
    const std::string text = format_status(report);
    INFO(text);
    CHECK(has_line(text, "  state          TIME_ERROR (5): clock not synchronized (or PPS in "
                         "error)"));
    CHECK(has_line(text, "  status         0x0040 STA_UNSYNC"));
    CHECK(has_line(text, "  offset         +5000 ns"));
    CHECK(has_line(text, "  frequency      +3.500000 ppm"));
    CHECK(has_line(text, "  maxerror       16000000 us"));
    CHECK(has_line(text, "  PPS jitter     7000 ns"));
    CHECK(has_line(text, "  time           2023-11-14T22:13:20.123456000Z"));
    CHECK(contains(text, "  PPS interval   none (shift 0"));

    const std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"offset_ns\":5000,"));
    CHECK(contains(json, "\"frequency_ppm\":3.5,\"freq\":229376,"));
    CHECK(contains(json, "\"jitter_ns\":7000,"));
    CHECK(contains(json, "\"time_sec\":1700000000,\"time_nsec\":123456000,"));
    CHECK(
        contains(json, "\"status\":64,\"status_hex\":\"0x0040\",\"status_bits\":[\"STA_UNSYNC\"]"));
    CHECK(contains(json, "\"config\":null,\"refclocks\":[]"));
}

TEST_CASE("kernel state as JSON") {
    StatusReport report;
    report.kernel = nano_clock();
    report.now = {1700000000, 7};
    const std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    CHECK(json.back() == '\n');
    for (const char* part : {
             "\"state\":\"TIME_INS\",\"state_code\":1,",
             "\"gettime_state\":\"TIME_INS\",\"gettime_state_code\":1,",
             "\"status\":8471,\"status_hex\":\"0x2117\",",
             "\"status_bits\":[\"STA_PLL\",\"STA_PPSFREQ\",\"STA_PPSTIME\",\"STA_INS\","
             "\"STA_PPSSIGNAL\",\"STA_NANO\"],",
             "\"offset_ns\":-1234,",
             "\"frequency_ppm\":-12.5,\"freq\":-819200,",
             "\"maxerror_us\":1234,\"esterror_us\":56,\"constant\":7,\"precision_us\":1,",
             "\"tolerance_ppm\":500.0,\"tick_us\":10000,\"tai_offset_s\":37,",
             "\"time\":\"2023-11-14T22:13:20.000000005Z\",\"time_sec\":1700000000,"
             "\"time_nsec\":5,",
             "\"pps\":{\"frequency_ppm\":1.5,\"jitter_ns\":789,\"shift\":4,",
             "\"calcnt\":12,\"errcnt\":1,\"jitcnt\":2,\"stbcnt\":3}",
             "\"now\":\"2023-11-14T22:13:20.000000007Z\"",
         }) {
        CHECK(contains(json, part));
    }
}

TEST_CASE("refclocks: sample, age, segment, absent segment, unreadable segment, SOCK") {
    const StatusReport report = report_with_refclocks();
    const std::string text = format_status(report);
    INFO(text);
    const std::vector<std::string> lines = {
        "refclock \"off-by-one\" (system)",
        "  SHM unit       2 (key 0x4e545032)",
        "  segment        shmid 3, owner uid 0, creator uid 108, mode 0600, 96 bytes, 2 attached",
        "  sample         valid, count 42, mode 1",
        "  clock          2023-11-14T22:13:20.000000000Z",
        "  receive        2023-11-14T22:13:21.000000000Z",
        "  clock-receive  -1.000000000 s",
        "  age            0.250 s",
        "  leap           0 (none)",
        "  precision      -20",
        "refclock \"gps\" (nmea)",
        "  SHM unit       7 (key 0x4e545037)",
        "  segment        no segment",
        "  chrony SOCK    /run/chrony/gps \"1\".sock (No such file or directory: chronyd is not "
        "running with this SOCK refclock)",
        "refclock \"pps\" (pps)",
        "  SHM unit       1 (key 0x4e545031)",
        "  sample         not readable: SHM unit 1 (key 0x4e545031): cannot attach segment "
        "read-only: Permission denied",
    };
    for (const auto& line : lines) {
        CHECK(has_line(text, line));
    }

    const std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    for (const char* part : {
             "\"config\":\"/etc/shmrefclock.conf\"",
             "{\"name\":\"off-by-one\",\"source\":\"system\",\"unit\":2,\"key\":\"0x4e545032\","
             "\"segment\":{\"shmid\":3,\"uid\":0,\"cuid\":108,\"mode\":\"0600\",\"size\":96,"
             "\"nattch\":2},",
             "\"sample\":{\"clock\":\"2023-11-14T22:13:20.000000000Z\","
             "\"receive\":\"2023-11-14T22:13:21.000000000Z\",\"clock_sec\":1700000000,"
             "\"clock_nsec\":0,\"receive_sec\":1700000001,\"receive_nsec\":0,"
             "\"clock_minus_receive\":-1.0,\"age\":0.25,\"leap\":0,"
             "\"precision\":-20,\"mode\":1,\"count\":42,\"valid\":1}",
             "\"problem\":null,\"sock\":null,\"sock_problem\":null,\"witness\":"
             "{\"enabled\":true,\"witnessed\":false,\"verdict\":{\"kind\":\"no_witness\","
             "\"difference_ns\":-1000000000,\"bound_ns\":",
             "{\"name\":\"gps\",\"source\":\"nmea\",\"unit\":7,\"key\":\"0x4e545037\","
             "\"segment\":null,\"sample\":null,\"problem\":null,"
             "\"sock\":\"/run/chrony/gps \\\"1\\\".sock\",",
             "\"problem\":\"SHM unit 1 (key 0x4e545031): cannot attach segment read-only: "
             "Permission denied\"",
         }) {
        CHECK(contains(json, part));
    }
}

TEST_CASE("a segment created but never written, and a withdrawn sample") {
    StatusReport report;
    report.now = {1700000010, 0};
    RefclockStatus rc;
    rc.name = "gps";
    rc.source = "nmea";
    UnitStatus unit;
    unit.unit = 0;
    unit.segment = SegmentInfo{1, 0, 0, 0600, 96, 1};
    ShmSnapshot empty{};
    empty.mode = 1;
    unit.snapshot = empty;
    rc.unit = unit;
    report.refclocks.push_back(rc);
    CHECK(has_line(format_status(report),
                   "  sample         none yet (never written), mode 1, valid 0"));

    ShmSnapshot withdrawn = off_by_one_snapshot();
    withdrawn.valid = 0;
    report.refclocks[0].unit->snapshot = withdrawn;
    const std::string text = format_status(report);
    CHECK(has_line(text, "  sample         not valid, count 42, mode 1"));
    CHECK(has_line(text, "  age            9.000 s"));
}

TEST_CASE("JSON escapes names and paths") {
    StatusReport report;
    RefclockStatus rc;
    rc.name = "a\\b";
    rc.source = "system";
    rc.sock = std::string("/tmp/x\ty\x01z");
    report.refclocks.push_back(rc);
    const std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"name\":\"a\\\\b\""));
    CHECK(contains(json, "\"sock\":\"/tmp/x\\ty\\u0001z\""));
}

TEST_CASE("/proc/sysvipc/shm is read by column name") {
    // As Linux 6.1 prints it (ipc/shm.c sysvipc_shm_proc_show): the key is a
    // signed decimal, perms octal.
    const std::string text =
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  "
        "cuid  cgid      atime      dtime      ctime                   rss                  swap\n"
        "1314148402          7   600                    96   123   456      2     0     0   "
        "108   112 1700000000          0 1700000000                  4096                     0\n"
        "1314148403          8   644                    96   123   456      0  1000  1000  "
        "1000  1000          0          0 1700000000                     0                     0\n";
    // 0x4e545032 = 1314148402.
    auto unit2 = parse_sysvipc_shm(text, 0x4e545032);
    REQUIRE(unit2.has_value());
    CHECK(unit2->shmid == 7);
    CHECK(unit2->mode == 0600);
    CHECK(unit2->size == 96);
    CHECK(unit2->nattch == 2);
    CHECK(unit2->uid == 0);
    CHECK(unit2->cuid == 108);
    auto unit3 = parse_sysvipc_shm(text, 0x4e545033);
    REQUIRE(unit3.has_value());
    CHECK(unit3->mode == 0644);
    CHECK(unit3->uid == 1000);
    CHECK_FALSE(parse_sysvipc_shm(text, 0x4e545034).has_value());
    CHECK_FALSE(parse_sysvipc_shm("", 0x4e545032).has_value());
    CHECK_FALSE(parse_sysvipc_shm("garbage\n1 2 3\n", 0x4e545032).has_value());
}

TEST_CASE("reading a real segment (this suite runs in its own IPC namespace)") {
    constexpr int unit = 9;
    CHECK_FALSE(read_unit_status(unit).segment.has_value()); // nothing there yet

    const int id = shmget(shm_key(unit), sizeof(ShmTime), IPC_CREAT | IPC_EXCL | 0640);
    REQUIRE(id >= 0);
    void* address = shmat(id, nullptr, 0);
    REQUIRE(address != reinterpret_cast<void*>(-1));
    auto* segment = static_cast<ShmTime*>(address);
    segment->mode = 1;
    segment->count = 4;
    segment->clockTimeStampSec = 1700000000;
    segment->clockTimeStampUSec = 0;
    segment->clockTimeStampNSec = 0;
    segment->receiveTimeStampSec = 1700000001;
    segment->receiveTimeStampUSec = 2;
    segment->receiveTimeStampNSec = 2000;
    segment->precision = -20;
    segment->valid = 1;

    const UnitStatus status = read_unit_status(unit);
    REQUIRE(status.segment.has_value());
    CHECK(status.segment->shmid == id);
    CHECK(status.segment->uid == geteuid());
    CHECK(status.segment->mode == 0640);
    CHECK(status.segment->size == sizeof(ShmTime));
    CHECK(status.segment->nattch == 1); // ours above, not the reader's own
    CHECK(status.problem.empty());
    REQUIRE(status.snapshot.has_value());
    CHECK(status.snapshot->count == 4);
    CHECK(status.snapshot->valid == 1);
    CHECK(status.snapshot->sample.receive_time.tv_nsec == 2000);
    CHECK(segment->valid == 1); // status never clears valid

    shmdt(address);
    shmctl(id, IPC_RMID, nullptr);
}

TEST_CASE("the kernel clock can be read without privileges") {
    // modes 0 is read-only; whatever the machine's state, the call works.
    const KernelTimex k = read_kernel_timex();
    CHECK(k.state >= 0);
    CHECK(k.tolerance > 0); // the kernel's MAXFREQ, 500 ppm
}

namespace {

// date -u -d '2016-12-31 12:00' +%s, and the days around it.
constexpr time_t dec31_2016_noon = 1483185600;
constexpr std::int64_t jan1_2017 = 1483228800;
constexpr std::int64_t jul8_2016 = 1467936000;
constexpr std::int64_t jun28_2017 = 1498608000;

// A list as the parser would give it (its parsing is test_leap_seconds's).
LeapListStatus insertion_list() {
    LeapListStatus leap;
    leap.path = "/usr/share/zoneinfo/leap-seconds.list";
    LeapSecondsList list;
    list.updated = jul8_2016;
    list.expires = jun28_2017;
    list.entries = {{63072000, 35}, {jan1_2017, 36}};
    leap.load.list = list;
    leap.load.problem = LeapListProblem::none;
    return leap;
}

} // namespace

TEST_CASE("status: the leap-second list, announcing, with and without the kernel armed") {
    StatusReport report;
    report.kernel = micro_clock(); // STA_UNSYNC only
    report.leap_seconds = insertion_list();
    report.now = {dec31_2016_noon, 0};
    std::string text = format_status(report);
    INFO(text);
    CHECK(has_line(text, "leap-second list"));
    CHECK(has_line(text, "  path           /usr/share/zoneinfo/leap-seconds.list"));
    CHECK(has_line(text, "  state          valid until 2017-06-28"));
    CHECK(has_line(text, "  updated        2016-07-08"));
    CHECK(has_line(text, "  expires        2017-06-28"));
    CHECK(has_line(text, "  next leap      insertion at the end of 2016-12-31"));
    CHECK(has_line(text, "  announcing     1 (insert)"));
    CHECK(has_line(text, "  kernel         DISAGREES: the kernel has no leap second armed "
                         "(STA_INS/STA_DEL), the leap-second list announces an insertion"));
    std::string json = format_status_json(report);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"leap_seconds\":{\"path\":\"/usr/share/zoneinfo/leap-seconds.list\","
                         "\"state\":\"valid\",\"detail\":\"valid until 2017-06-28\","
                         "\"updated\":\"2016-07-08\",\"expires\":\"2017-06-28\","
                         "\"expires_sec\":1498608000,\"next_leap\":{\"at\":"
                         "\"2017-01-01T00:00:00Z\",\"at_sec\":1483228800,\"leap\":1},"
                         "\"announcing\":1,\"kernel_disagreement\":"
                         "\"the kernel has no leap second armed"));

    report.kernel.status |= ins;
    text = format_status(report);
    CHECK(has_line(text, "  kernel         agrees (STA_INS set)"));
    CHECK(contains(format_status_json(report), "\"kernel_disagreement\":null}"));

    // The day before: the leap is next, not announced; the kernel's STA_INS
    // a day early disagrees.
    report.now = {dec31_2016_noon - 86400, 0};
    text = format_status(report);
    CHECK(has_line(text, "  announcing     0 (none)"));
    CHECK(contains(text, "  kernel         DISAGREES: the kernel has an insertion armed"));
}

TEST_CASE("status: an expired, a corrupt, a missing and no leap-second list") {
    StatusReport report;
    report.kernel = micro_clock();
    report.leap_seconds = insertion_list();
    report.now = {jun28_2017, 0};
    std::string text = format_status(report);
    INFO(text);
    CHECK(has_line(text, "  state          expired on 2017-06-28; no leap second is announced"));
    CHECK(has_line(text, "  next leap      none in the list"));
    CHECK(has_line(text, "  kernel         agrees (STA_INS and STA_DEL clear)"));
    CHECK(contains(format_status_json(report), "\"state\":\"expired\","));

    report.leap_seconds.load = LeapListLoad{};
    report.leap_seconds.load.problem = LeapListProblem::bad_hash;
    report.leap_seconds.load.detail = "the #h line says 1, the data hash to 2";
    text = format_status(report);
    CHECK(has_line(text, "  state          bad hash: the #h line says 1, the data hash to 2; no "
                         "leap second is announced"));
    CHECK_FALSE(contains(text, "  expires"));
    CHECK(has_line(text, "  announcing     0 (none)"));
    std::string json = format_status_json(report);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"state\":\"bad hash\",\"detail\":\"bad hash: the #h line says 1, the "
                         "data hash to 2\",\"updated\":null,\"expires\":null,\"expires_sec\":null,"
                         "\"next_leap\":null,\"announcing\":0,"));

    report.leap_seconds.load.problem = LeapListProblem::missing;
    report.leap_seconds.load.detail = "No such file or directory";
    CHECK(has_line(format_status(report), "  state          missing: No such file or directory; "
                                          "no leap second is announced"));

    report.leap_seconds.path.clear();
    report.leap_seconds.load.problem = LeapListProblem::not_configured;
    report.leap_seconds.load.detail = "leap-seconds = \"\"";
    text = format_status(report);
    CHECK(has_line(text, "  path           none (leap-seconds = \"\")"));
    CHECK(contains(format_status_json(report), "\"leap_seconds\":{\"path\":null,"));
}

TEST_CASE("status: the kernel witness's verdict, computed with the daemon's rule") {
    StatusReport report = report_with_refclocks(); // off-by-one: clock 1 s behind receive
    report.refclocks[1].witness = false;           // "gps"
    report.refclocks[1].witnessed = true;

    // Unsynchronized (STA_UNSYNC, TIME_ERROR): no witness, receivers believed.
    std::string text = format_status(report);
    INFO(text);
    CHECK(contains(text, "kernel witness (computed by status from the kernel state above with "
                         "the daemon's rule; not the daemon's own counters)\n"));
    CHECK(has_line(text, "  witness        inactive: kernel not synchronized (state TIME_ERROR, "
                         "STA_UNSYNC set); receivers are believed as they report"));
    CHECK(has_line(text, "  disabled       witness = false on \"gps\""));
    CHECK(has_line(text, "  witness        no witness (kernel not synchronized): clock 1.000 s "
                         "behind the system clock at receive; believed (the daemon applies the "
                         "witness to nmea and pps refclocks only)"));
    std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"witness\":{\"computed_by\":\"status\",\"active\":false,\"reason\":"
                         "\"kernel not synchronized (state TIME_ERROR, STA_UNSYNC set)\","));
    CHECK(contains(json, "\"disabled\":[\"gps\"]}"));

    // Synchronized, maxerror 1234 us: the bound is 1.234 ms + 0.5 s, and a
    // sample 1 s behind disagrees.
    report.kernel = nano_clock(); // TIME_INS, STA_PLL, no STA_UNSYNC
    report.refclocks[0].witnessed = true;
    text = format_status(report);
    CHECK(has_line(text, "  witness        active: kernel synchronized (TIME_INS, STA_UNSYNC "
                         "clear); bound 0.501 s (maxerror 0.001 s + 0.500 s)"));
    CHECK(has_line(text, "  witness        DISAGREES: clock 1.000 s behind the system clock at "
                         "receive, beyond 0.501 s: the daemon refuses such a cycle"));
    json = format_status_json(report);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"witness\":{\"computed_by\":\"status\",\"active\":true,"
                         "\"reason\":\"kernel synchronized (TIME_INS, STA_UNSYNC clear)\","
                         "\"maxerror_ns\":1234000,\"bound_ns\":501234000,"));
    CHECK(contains(json, "\"verdict\":{\"kind\":\"disagree\",\"difference_ns\":-1000000000,"
                         "\"bound_ns\":501234000,"));

    // maxerror 0.6 s: the bound 1.1 s covers the second.
    report.kernel.maxerror = 600000;
    text = format_status(report);
    CHECK(has_line(text, "  witness        agrees: clock 1.000 s behind the system clock at "
                         "receive, within 1.100 s"));

    // witness = false: off, whatever the kernel says.
    report.refclocks[0].witness = false;
    text = format_status(report);
    CHECK(has_line(text, "  witness        off (witness = false): clock 1.000 s behind the "
                         "system clock at receive; believed"));
    CHECK(has_line(text, "  disabled       witness = false on \"off-by-one\", \"gps\""));

    // A withdrawn sample is not judged.
    report.refclocks[0].unit->snapshot->valid = 0;
    text = format_status(report);
    CHECK(has_line(text, "  witness        no valid sample to judge"));
    CHECK(contains(format_status_json(report), "\"witnessed\":true,\"verdict\":null}"));
}

TEST_CASE("status: with the daemon answering, the witness's verdicts are the daemon's own") {
    StatusReport report = report_with_refclocks(); // off-by-one (system), gps (nmea), pps
    report.kernel = nano_clock(); // synchronized: status's rule would refuse off-by-one
    report.refclocks[1].witnessed = true;
    DaemonState daemon;
    RefclockState& gps = daemon.refclocks.emplace_back();
    gps.name = "gps";
    gps.source = "nmea";
    WitnessState witness;
    witness.synchronized = true;
    witness.maxerror_ns = 2'000'000;
    witness.bound_ns = 502'000'000;
    witness.verdict = WitnessVerdictState{"agree", 130'000'000, 502'000'000};
    gps.nmea.emplace().witness = witness;
    report.daemon.path = "/run/shmrefclock/control";
    report.daemon.state = daemon;

    const std::string text = format_status(report);
    INFO(text);
    CHECK(contains(text, "kernel witness (from the kernel state above with the daemon's rule; "
                         "the verdicts on the refclocks are the daemon's own)\n"));
    CHECK_FALSE(contains(text, "not the daemon's own"));
    CHECK(has_line(text, "  witness        agrees: clock 0.130 s ahead of the system clock at "
                         "receive, within 0.502 s (the daemon's own, on the last cycle or pulse "
                         "it judged)"));
    // The daemon judged nothing of off-by-one (a system refclock) and pps:
    // status does not judge them itself.
    CHECK(has_line(text, "  witness        none from the daemon (it judges each cycle of an nmea "
                         "refclock and each pulse of a pps refclock)"));
    CHECK_FALSE(contains(text, "DISAGREES: clock"));

    const std::string json = format_status_json(report);
    INFO(json);
    CHECK(valid_json(json));
    CHECK(contains(json, "\"verdict\":{\"kind\":\"agree\",\"difference_ns\":130000000,"
                         "\"bound_ns\":502000000,"));
    CHECK(contains(json, "\"by\":\"daemon\"}"));
    CHECK(contains(json, "{\"enabled\":true,\"witnessed\":false,\"verdict\":null}"));
}
