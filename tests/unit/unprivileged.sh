#!/bin/sh
# Run one unit test program (tests/README.md, "Unit tests"). Pure tests run
# without root: as the user nobody when started as root, as the caller
# otherwise. With --ipc the program makes real SysV segments and gets a
# private IPC namespace for them: as root, so that test_shm can hand a
# segment to another user (only real root can), and through a user
# namespace of its own (unshare --map-root-user) for a caller who is not
# root, which then covers every case but that one.
#
#   tests/unit/unprivileged.sh [--ipc] PROGRAM [ARG...]
set -eu
ipc=no
if [ "${1:-}" = --ipc ]; then
    ipc=yes
    shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--ipc] PROGRAM [ARG...]" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
    [ "$ipc" = no ] || set -- unshare --map-root-user --ipc -- "$@"
elif [ "$ipc" = yes ]; then
    set -- unshare --ipc -- "$@"
else
    # 65534: nobody and nogroup on Debian.
    set -- setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- "$@"
fi
exec "$@"
