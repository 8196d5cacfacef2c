#!/bin/bash
# The quick start's daemon run (tests/demo.sh builds, then runs this): the
# daemon on config/examples/off-by-one.conf, the samples it writes as
# `shmrefclock monitor` sees them, then `shmrefclock status`.
#
# Usage: tests/demo-run.sh BUILD_DIR
#
# The control socket goes in a temporary directory (a [daemon] table put in
# front of a copy of the example): its default, /run/shmrefclock/control, is
# made by the systemd unit's RuntimeDirectory=, which a hand-run demo does
# not have, and the daemon would warn on every fresh machine (issue 23).
# The same table sets leap-seconds = "" (no list): a one-second-behind
# system clock announces no leap second, and tzdata's list, when it has
# expired (Debian 12's did on 2026-06-28), would be a warning too. The demo
# must run without a warning; tests/integration's `demo` checks it.
#
# It runs inside a private IPC namespace (unshare --ipc), so the demo's SHM
# unit 2 can never reach an NTP daemon running on this machine: feeding a
# real ntpd or chrony a clock one second off is exactly what not to do.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
binary=$(cd "$1" && pwd)/src/shmrefclock
example=$top/config/examples/off-by-one.conf

demo_dir=$(mktemp -d "${TMPDIR:-/tmp}/shmrefclock-demo.XXXXXX")
trap 'rm -rf "$demo_dir"' EXIT
{
    printf '[daemon]\ncontrol = "%s/control"\nleap-seconds = ""\n\n' "$demo_dir"
    cat "$example"
} > "$demo_dir/off-by-one.conf"

if [ "$(id -u)" -eq 0 ]; then
    isolate=(unshare --ipc)
else
    isolate=(unshare --user --map-root-user --ipc)
fi

echo "shmrefclock -c config/examples/off-by-one.conf (control socket in $demo_dir),"
echo "watched by 'shmrefclock monitor --units 2 --count 5':"
"${isolate[@]}" bash -c '
    binary=$1 config=$2
    "$binary" -c "$config" &
    daemon=$!
    trap "kill $daemon 2>/dev/null; wait $daemon" EXIT
    "$binary" monitor --units 2 --count 5
    echo
    echo "shmrefclock status:"
    "$binary" status -c "$config"
' demo "$binary" "$demo_dir/off-by-one.conf"
