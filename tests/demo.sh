#!/bin/bash
# The README's first quick-start command: build, then run the daemon on
# config/examples/off-by-one.conf and show the samples it writes.
#
# It runs inside a private IPC namespace (unshare --ipc), so the demo's SHM
# unit 2 can never reach an NTP daemon running on this machine: feeding a
# real ntpd or chrony a clock one second off is exactly what not to do.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh --build
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build src/shmrefclock >/dev/null

if [ "$(id -u)" -eq 0 ]; then
    isolate=(unshare --ipc)
else
    isolate=(unshare --user --map-root-user --ipc)
fi

echo "shmrefclock -c config/examples/off-by-one.conf, watched by 'shmrefclock monitor --units 2 --count 5':"
exec "${isolate[@]}" bash -c '
    build/src/shmrefclock -c config/examples/off-by-one.conf &
    daemon=$!
    trap "kill $daemon 2>/dev/null; wait $daemon" EXIT
    build/src/shmrefclock monitor --units 2 --count 5
'
