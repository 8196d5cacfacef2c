// The daemon's SHM output: an Output over libshmrefclock's ShmWriter
// (src/lib/shm.cpp), which holds the attach checks and the write protocol.
#include "shmrefclock/shm.hpp"

#include "outputs/output.hpp"

namespace shmrefclock {

namespace {
class ShmOutput : public Output {
public:
    ShmOutput(int unit, unsigned perm) : writer_(unit, perm) {}
    void write(const Sample& sample) override { writer_.write(sample); }
    void withdraw() override { writer_.clear_valid(); }
    std::string describe() const override { return describe_unit(writer_.unit()); }

private:
    ShmWriter writer_;
};
} // namespace

std::unique_ptr<Output> make_shm_output(int unit, unsigned perm) {
    return std::make_unique<ShmOutput>(unit, perm);
}

} // namespace shmrefclock
