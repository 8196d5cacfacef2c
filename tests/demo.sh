#!/bin/bash
# The README's first quick-start command: build, then run the daemon on
# config/examples/off-by-one.conf and show the samples it writes
# (tests/demo-run.sh, which the integration test `demo` runs too).
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh --build
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build src/shmrefclock >/dev/null

exec tests/demo-run.sh build
