#include "sources/source.hpp"

#include <stdexcept>

#include "config/config.hpp"
#include "core/release_date.hpp"
#include "sources/nmea.hpp"
#include "sources/pps.hpp"
#include "sources/system.hpp"

namespace shmrefclock {

std::unique_ptr<Source> make_source(const RefclockConfig& config, EventLoop& loop, SourceSink& sink,
                                    LockSource* lock) {
    switch (config.source) {
    case SourceKind::system:
        return std::make_unique<SystemSource>(config.name, loop, sink, config.interval);
    case SourceKind::nmea:
        return std::make_unique<NmeaSource>(loop, sink, config, release_date());
    case SourceKind::pps:
        return std::make_unique<PpsSource>(config, loop, sink, lock);
    }
    throw std::runtime_error("refclock \"" + config.name + "\": source \"" +
                             std::string(to_string(config.source)) +
                             "\" is not available in this version");
}

} // namespace shmrefclock
