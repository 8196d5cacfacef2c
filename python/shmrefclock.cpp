// The Python module `shmrefclock`: libshmrefclock (shmrefclock(3)) for
// Python, plus NtpdShm, a class compatible with python-ntpdshm 0.2.1 so that
// scripts written for it run after `import shmrefclock as ntpdshm`, but
// always write with mode 1, the count protocol and fences.
//
// Types and signatures are in shmrefclock.pyi (installed beside the module);
// the docstrings below are what help() shows.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <time.h>

#include "shmrefclock/shm.hpp"

namespace py = pybind11;
using namespace shmrefclock;

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;

std::int64_t realtime_ns() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return timespec_to_ns(now);
}

Leap to_leap(int leap) {
    // 3 ("not synchronized") is a valid wire value: a writer may mean it.
    if (leap < 0 || leap > 3) {
        throw py::value_error(
            "leap must be 0 (none), 1 (insert), 2 (delete) or 3 (unsynchronized)");
    }
    return static_cast<Leap>(leap);
}

void check_unit(int unit) {
    if (unit < 0 || unit > shm_unit_max) {
        throw py::value_error("unit must be 0.." + std::to_string(shm_unit_max));
    }
}

// float seconds -> (sec, nsec), nsec in [0, 1e9): the float properties and
// update() of the compatible API.
timespec from_float(double seconds) {
    if (!std::isfinite(seconds)) {
        throw py::value_error("time must be a finite number of seconds");
    }
    return timespec_from_ns(std::llround(seconds * 1e9));
}

// One consistent copy of a segment, for Python.
struct PySample {
    std::int64_t reference_ns;
    std::int64_t receive_ns;
    int leap;
    int precision;
    int mode;
    int count;
    int valid;
    int nsamples;

    static PySample from(const ShmSnapshot& s) {
        return PySample{timespec_to_ns(s.sample.reference_time),
                        timespec_to_ns(s.sample.receive_time),
                        static_cast<int>(s.sample.leap),
                        s.sample.precision,
                        s.mode,
                        s.count,
                        s.valid,
                        s.nsamples};
    }
};

// Writer and Reader own their attachment in an optional so that close()
// (and `with`) detaches deterministically, before garbage collection.
class PyWriter {
public:
    PyWriter(int unit, unsigned perm) : unit_(unit) {
        check_unit(unit);
        writer_.emplace(unit, perm);
    }
    void write(std::int64_t reference_ns, std::optional<std::int64_t> receive_ns, int leap,
               int precision) {
        get().write(reference_ns, receive_ns ? *receive_ns : realtime_ns(), to_leap(leap),
                    precision);
    }
    void withdraw() { get().clear_valid(); }
    void close() { writer_.reset(); }
    bool closed() const { return !writer_; }
    int unit() const { return unit_; }
    int count() { return get().count(); }

private:
    ShmWriter& get() {
        if (!writer_) {
            throw py::value_error("SHM unit " + std::to_string(unit_) + " is closed");
        }
        return *writer_;
    }
    int unit_;
    std::optional<ShmWriter> writer_;
};

class PyReader {
public:
    explicit PyReader(int unit) : unit_(unit) {
        check_unit(unit);
        reader_ = ShmReader::open(unit);
        if (!reader_) {
            // errno-style, so that `except FileNotFoundError` works.
            PyErr_SetString(PyExc_FileNotFoundError,
                            (describe_unit(unit) + ": no such segment").c_str());
            throw py::error_already_set();
        }
    }
    std::optional<PySample> read(int attempts) {
        auto snap = get().read(attempts);
        return snap ? std::optional<PySample>(PySample::from(*snap)) : std::nullopt;
    }
    std::optional<PySample> wait_next(double timeout) {
        const ShmReader& reader = get();
        std::optional<ShmSnapshot> snap;
        {
            // Other Python threads (a writer, say) run while this one waits.
            py::gil_scoped_release release;
            snap = reader.wait_next(std::chrono::nanoseconds(std::llround(timeout * 1e9)));
        }
        return snap ? std::optional<PySample>(PySample::from(*snap)) : std::nullopt;
    }
    void close() { reader_.reset(); }
    int unit() const { return unit_; }

private:
    const ShmReader& get() const {
        if (!reader_) {
            throw py::value_error("SHM unit " + std::to_string(unit_) + " is closed");
        }
        return *reader_;
    }
    int unit_;
    std::optional<ShmReader> reader_;
};

// python-ntpdshm's NtpdShm. Its fields were the segment itself, so a script
// writing them one by one published half-written samples to a reader that
// polls. Here the fields are a staged copy: setting `valid = 1`, or
// update(), publishes the copy with the mode-1 protocol; `mode` reads 1 and
// ignores writes; `count` reads the segment's count and ignores writes (the
// protocol bumps it).
class NtpdShm {
public:
    NtpdShm(int unit, unsigned perm) : unit_(unit) {
        check_unit(unit);
        writer_.emplace(unit, perm);
    }

    ShmTime staged{};

    void set_valid(int valid) {
        if (valid != 0) {
            writer().write_fields(staged);
            published_ = 1;
        } else {
            writer().clear_valid();
            published_ = 0;
        }
    }
    int valid() const { return published_; }
    int count() { return writer().count(); }

    void set_clock(timespec t) {
        staged.clockTimeStampSec = t.tv_sec;
        staged.clockTimeStampUSec = static_cast<int>(t.tv_nsec / 1000);
        staged.clockTimeStampNSec = static_cast<unsigned>(t.tv_nsec);
    }
    void set_receive(timespec t) {
        staged.receiveTimeStampSec = t.tv_sec;
        staged.receiveTimeStampUSec = static_cast<int>(t.tv_nsec / 1000);
        staged.receiveTimeStampNSec = static_cast<unsigned>(t.tv_nsec);
    }
    void update(double clock_time, std::optional<double> recv_time, std::optional<int> precision) {
        set_clock(from_float(clock_time));
        set_receive(recv_time ? from_float(*recv_time) : timespec_from_ns(realtime_ns()));
        if (precision) {
            staged.precision = *precision;
        }
        set_valid(1);
    }
    void update_ns(std::int64_t reference_ns, std::optional<std::int64_t> receive_ns,
                   std::optional<int> leap, std::optional<int> precision) {
        set_clock(timespec_from_ns(reference_ns));
        set_receive(timespec_from_ns(receive_ns ? *receive_ns : realtime_ns()));
        if (leap) {
            staged.leap = static_cast<int>(to_leap(*leap));
        }
        if (precision) {
            staged.precision = *precision;
        }
        set_valid(1);
    }
    void withdraw() { set_valid(0); }
    // Clears valid (ShmWriter's destructor) and detaches.
    void close() {
        writer_.reset();
        published_ = 0;
    }

private:
    ShmWriter& writer() {
        if (!writer_) {
            throw py::value_error("SHM unit " + std::to_string(unit_) + " is closed");
        }
        return *writer_;
    }
    int unit_;
    std::optional<ShmWriter> writer_;
    int published_ = 0;
};

// The staged time as python-ntpdshm computed it (Sec + USec / 1e6), but
// with the nanoseconds when they agree with USec, as chrony reads them.
double staged_seconds(time_t sec, int usec, unsigned nsec) {
    const double fraction = nsec / 1000 == static_cast<unsigned>(usec) ? nsec / 1e9 : usec / 1e6;
    return static_cast<double>(sec) + fraction;
}

template <typename T>
void staged_field(py::class_<NtpdShm>& cls, const char* name, T ShmTime::*field, const char* doc) {
    cls.def_property(
        name, [field](const NtpdShm& s) { return s.staged.*field; },
        [field](NtpdShm& s, T value) { s.staged.*field = value; }, doc);
}

} // namespace

PYBIND11_MODULE(shmrefclock, m) {
    m.doc() = R"(Write and read NTP SHM refclock segments (struct shmTime) safely.

The segments that ntpd, NTPsec and chrony read with `refclock shm unit N` /
`refclock SHM N`, written with the mode-1 count protocol and memory fences,
attached only after the checks the shmrefclock daemon makes (owner, mode,
size). The same C++ code as the daemon (libshmrefclock, shmrefclock(3)).

- Writer(unit): write(reference_ns, receive_ns=None, leap=0, precision=-20)
- Reader(unit): read() and wait_next(timeout) return a consistent Sample
- NtpdShm(unit): compatible with python-ntpdshm 0.2.1 (`import shmrefclock
  as ntpdshm`), but always mode 1; field writes are staged and published
  together when `valid = 1` is set or update() is called.
- ShmError (an OSError): a segment refused or not attachable, with the
  daemon's message.

Times are int nanoseconds since the Unix epoch (time.time_ns()'s scale).)";
    m.attr("__version__") = SHMREFCLOCK_VERSION;
    m.attr("UNIT_MAX") = shm_unit_max;
    m.attr("LEAP_NONE") = 0;
    m.attr("LEAP_INSERT") = 1;
    m.attr("LEAP_DELETE") = 2;
    m.attr("LEAP_UNSYNCHRONIZED") = 3;
    m.def("shm_key", &shm_key, py::arg("unit"),
          "The SysV key of a unit: 0x4e545030 (\"NTP0\") + unit.");

    py::register_exception<ShmError>(m, "ShmError", PyExc_OSError);

    py::class_<PySample>(m, "Sample", R"(One consistent copy of a segment.

Taken with the mode-1 protocol: `count` was the same before and after the
copy. Times are int nanoseconds since the epoch; the microsecond fields are
used instead of the nanosecond ones when a writer left them inconsistent,
as chrony does.)")
        .def_readonly("reference_ns", &PySample::reference_ns,
                      "clockTimeStamp: the true time of the instant, ns since the epoch")
        .def_readonly("receive_ns", &PySample::receive_ns,
                      "receiveTimeStamp: the system clock at that instant, ns since the epoch")
        .def_readonly("leap", &PySample::leap, "0 none, 1 insert, 2 delete, 3 unsynchronized")
        .def_readonly("precision", &PySample::precision, "log2 seconds")
        .def_readonly("mode", &PySample::mode, "1: the count protocol; 0: an old writer")
        .def_readonly("count", &PySample::count, "bumped twice by every mode-1 write")
        .def_readonly("valid", &PySample::valid, "1 while the sample may be taken")
        .def_readonly("nsamples", &PySample::nsamples, "unused by the readers")
        .def_property_readonly(
            "offset_ns", [](const PySample& s) { return s.reference_ns - s.receive_ns; },
            "reference_ns - receive_ns: the correction the NTP daemon will see")
        .def("__repr__", [](const PySample& s) {
            return "Sample(reference_ns=" + std::to_string(s.reference_ns) +
                   ", receive_ns=" + std::to_string(s.receive_ns) +
                   ", leap=" + std::to_string(s.leap) +
                   ", precision=" + std::to_string(s.precision) +
                   ", mode=" + std::to_string(s.mode) + ", count=" + std::to_string(s.count) +
                   ", valid=" + std::to_string(s.valid) + ")";
        });

    py::class_<PyWriter>(m, "Writer", R"(A unit opened for writing.

Writer(unit, perm=0o600) attaches to the unit's segment, creating it with
`perm` when it does not exist. An existing segment is refused with ShmError
(the daemon's message) when its size is not that of struct shmTime here, owned or
created by a user other than us or root, or writable by group or others
beyond what `perm` allows. close() (or leaving a `with` block) clears
`valid` and detaches; the segment itself stays, because the NTP daemon is
attached to it.)")
        .def(py::init<int, unsigned>(), py::arg("unit"), py::arg("perm") = 0600)
        .def("write", &PyWriter::write, py::arg("reference_ns"), py::arg("receive_ns") = py::none(),
             py::arg("leap") = 0, py::arg("precision") = -20,
             R"(Publish one sample with the mode-1 protocol and fences.

reference_ns: the true time of the instant, int ns since the epoch.
receive_ns: the system clock at that instant (default: now, CLOCK_REALTIME).
leap: 0 none, 1 insert, 2 delete, 3 unsynchronized (readers drop 3).
precision: log2 seconds.)")
        .def("withdraw", &PyWriter::withdraw,
             "Clear `valid`: readers take nothing until the next write().")
        .def("close", &PyWriter::close, "Clear `valid` and detach. Idempotent.")
        .def_property_readonly("closed", &PyWriter::closed)
        .def_property_readonly("unit", &PyWriter::unit)
        .def_property_readonly("count", &PyWriter::count, "The segment's count now.")
        .def("__enter__", [](PyWriter& w) -> PyWriter& { return w; })
        .def("__exit__", [](PyWriter& w, py::args) { w.close(); });

    py::class_<PyReader>(m, "Reader", R"(A unit opened read-only (SHM_RDONLY).

Reader(unit) raises FileNotFoundError when the unit has no segment, and
ShmError when its size is not that of struct shmTime here. Never writes, so it never
clears `valid`.)")
        .def(py::init<int>(), py::arg("unit"))
        .def("read", &PyReader::read, py::arg("attempts") = 3,
             R"(A Sample copied while `count` did not change, or None when a write was in
progress `attempts` times running. Take it only when its `valid` is 1, as
the NTP daemons do: while `valid` is 0 a write may be under way.)")
        .def("wait_next", &PyReader::wait_next, py::arg("timeout"),
             R"(Wait up to `timeout` seconds for a valid sample other than the one there now.

Polls every millisecond with the GIL released; returns the Sample or None.)")
        .def("close", &PyReader::close, "Detach. Idempotent.")
        .def_property_readonly("unit", &PyReader::unit)
        .def("__enter__", [](PyReader& r) -> PyReader& { return r; })
        .def("__exit__", [](PyReader& r, py::args) { r.close(); });

    py::class_<NtpdShm> ntpd(m, "NtpdShm", R"(python-ntpdshm 0.2.1's NtpdShm, made safe.

NtpdShm(unit=0, perm=0o600): attach with the same checks as Writer.
The struct's fields are attributes by their C names. Differences from
python-ntpdshm, so that old scripts cannot publish a torn sample:

- Field writes go to a staged copy. Setting `valid = 1` (or calling
  update() / update_ns()) publishes the whole copy with the mode-1 count
  protocol and fences; `valid = 0` withdraws the sample.
- `mode` always reads 1; writing it (e.g. `mode = 0`) is accepted and
  ignored. `count` reads the segment's count; writing it (`count += 1`) is
  ignored, the protocol bumps it.
- `nsamples` is staged but published as 0; `valid` reads what this object
  last published (1) or withdrew (0).
- The segment is created 0600, not world-writable, and an existing one is
  refused (ShmError, an OSError) when another user could have written it.
- New: update_ns() with int nanoseconds, withdraw(), close() and `with`.)");
    ntpd.def(py::init<int, unsigned>(), py::arg("unit") = 0, py::arg("perm") = 0600)
        .def_property(
            "mode", [](const NtpdShm&) { return 1; }, [](NtpdShm&, int) {},
            "Always 1 (the count protocol); writes are ignored.")
        .def_property(
            "count", [](NtpdShm& s) { return s.count(); }, [](NtpdShm&, int) {},
            "The segment's count; writes are ignored (the protocol bumps it).")
        .def_property("valid", &NtpdShm::valid, &NtpdShm::set_valid,
                      "Set 1 to publish the staged fields, 0 to withdraw the sample.");
    staged_field(ntpd, "clockTimeStampSec", &ShmTime::clockTimeStampSec,
                 "Reference time, whole seconds (staged).");
    staged_field(ntpd, "clockTimeStampUSec", &ShmTime::clockTimeStampUSec,
                 "Reference time, microseconds (staged).");
    staged_field(ntpd, "clockTimeStampNSec", &ShmTime::clockTimeStampNSec,
                 "Reference time, nanoseconds; used by readers only when NSec / 1000 == USec "
                 "(staged).");
    staged_field(ntpd, "receiveTimeStampSec", &ShmTime::receiveTimeStampSec,
                 "Receive time (system clock), whole seconds (staged).");
    staged_field(ntpd, "receiveTimeStampUSec", &ShmTime::receiveTimeStampUSec,
                 "Receive time, microseconds (staged).");
    staged_field(ntpd, "receiveTimeStampNSec", &ShmTime::receiveTimeStampNSec,
                 "Receive time, nanoseconds (staged).");
    staged_field(ntpd, "leap", &ShmTime::leap, "0 none, 1 insert, 2 delete, 3 unsynchronized.");
    staged_field(ntpd, "precision", &ShmTime::precision, "log2 seconds (staged).");
    staged_field(ntpd, "nsamples", &ShmTime::nsamples, "Unused; published as 0.");
    ntpd.def_property(
            "clockTimeStamp",
            [](const NtpdShm& s) {
                return staged_seconds(s.staged.clockTimeStampSec, s.staged.clockTimeStampUSec,
                                      s.staged.clockTimeStampNSec);
            },
            [](NtpdShm& s, double t) { s.set_clock(from_float(t)); },
            "Reference time as float seconds; sets Sec, USec and NSec (staged).")
        .def_property(
            "receiveTimeStamp",
            [](const NtpdShm& s) {
                return staged_seconds(s.staged.receiveTimeStampSec, s.staged.receiveTimeStampUSec,
                                      s.staged.receiveTimeStampNSec);
            },
            [](NtpdShm& s, double t) { s.set_receive(from_float(t)); },
            "Receive time as float seconds; sets Sec, USec and NSec (staged).")
        .def("update", &NtpdShm::update, py::arg("clock_time"), py::arg("recv_time") = py::none(),
             py::arg("precision") = py::none(),
             R"(Stage the times (float seconds) and publish them in one step.

recv_time defaults to now (CLOCK_REALTIME); precision, when given, is
staged too. Float seconds carry about 0.2 us near the current epoch: use
update_ns() for nanoseconds.)")
        .def("update_ns", &NtpdShm::update_ns, py::arg("reference_ns"),
             py::arg("receive_ns") = py::none(), py::arg("leap") = py::none(),
             py::arg("precision") = py::none(),
             "Like update(), with int nanoseconds since the epoch, and leap.")
        .def("withdraw", &NtpdShm::withdraw, "Clear `valid` (same as `valid = 0`).")
        .def("close", &NtpdShm::close, "Clear `valid` and detach. Idempotent.")
        .def("__enter__", [](NtpdShm& s) -> NtpdShm& { return s; })
        .def("__exit__", [](NtpdShm& s, py::args) { s.close(); });
}
