#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/toml_reader.hpp"

namespace shmrefclock {

// At most max_file_size bytes and one more are read: a larger file is
// refused without reading the rest.
Config load_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::string text(toml::max_file_size + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    text.resize(static_cast<std::size_t>(in.gcount()));
    return parse_config(text, path);
}

} // namespace shmrefclock
