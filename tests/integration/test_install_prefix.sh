#!/bin/bash
# `DESTDIR=D meson install` of a build configured with --prefix=P writes
# nothing outside D/P (issue 9): the unit, the sysusers.d entry and the udev
# rule go under the prefix unless -Dsystemd-system-dirs=true asks for the
# system's directories (the Debian package does). Also checks that each of
# them was installed at all, so an install that writes nothing cannot pass.
#
# Usage: test_install_prefix.sh BUILD_DIR PREFIX SYSCONFDIR SYSTEMD_FILES PYTHON_MODULE
#   SYSTEMD_FILES  prefix: the unit, sysusers.d and udev files must be under
#                  PREFIX; system: -Dsystemd-system-dirs=true, they may be in
#                  systemd's and udev's own directories; none: not installed
#   PYTHON_MODULE  yes: the Python module is built and installed, and must
#                  import from the prefix; no: it is not
set -u

if [ $# -ne 5 ]; then
    echo "usage: $0 BUILD_DIR PREFIX SYSCONFDIR SYSTEMD_FILES PYTHON_MODULE" >&2
    exit 1
fi
build=$1 prefix=$2 sysconfdir=$3 systemd_files=$4 python_module=$5

destdir=$(mktemp -d "${TMPDIR:-/tmp}/shmrefclock-install.XXXXXX") || exit 1
trap 'rm -rf "$destdir"' EXIT

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$destdir" > "$destdir.log" 2>&1; then
    cat "$destdir.log"
    rm -f "$destdir.log"
    echo "FAIL: meson install --destdir failed"
    exit 1
fi
rm -f "$destdir.log"

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

echo "installed under $destdir (prefix $prefix):"
count=0
while IFS= read -r -d '' path; do
    relative=${path#"$destdir"}
    echo "  $relative"
    count=$((count + 1))
    case $relative in
        "$prefix"/*) ;;
        /lib/systemd/system/* | /usr/lib/systemd/system/* | /usr/lib/sysusers.d/* | \
            /lib/udev/rules.d/* | /usr/lib/udev/rules.d/*)
            [ "$systemd_files" = system ] || fail "$relative is outside the prefix $prefix"
            ;;
        *) fail "$relative is outside the prefix $prefix" ;;
    esac
done < <(find "$destdir" \( -type f -o -type l \) -print0 | sort -z)
[ "$count" -gt 0 ] || fail "nothing was installed"

expect() {
    [ -f "$destdir$1" ] || fail "$1 was not installed"
}
expect "$prefix/bin/shmrefclock"
expect "$sysconfdir/shmrefclock.conf"
expect "$prefix/share/man/man8/shmrefclock.8"
expect "$prefix/share/man/man5/shmrefclock.conf.5"
if [ "$systemd_files" = prefix ]; then
    expect "$prefix/lib/systemd/system/shmrefclock.service"
    expect "$prefix/lib/sysusers.d/shmrefclock.conf"
    expect "$prefix/lib/udev/rules.d/60-shmrefclock.rules"
    # ExecStart= follows the prefix too.
    grep -qx "ExecStart=$prefix/bin/shmrefclock -c $sysconfdir/shmrefclock.conf" \
        "$destdir$prefix/lib/systemd/system/shmrefclock.service" ||
        fail "ExecStart= does not name $prefix/bin/shmrefclock and $sysconfdir/shmrefclock.conf"
fi

# The Python module, where built and installed, imports from the prefix
# with no environment beyond PYTHONPATH (issue 23: it linked
# libshmrefclock.so.0 with no run path, so a custom prefix needed
# LD_LIBRARY_PATH). Meson's test environment may carry LD_LIBRARY_PATH into
# the build tree: it is removed. LD_PRELOAD stays: in the sanitizer build it
# holds the ASan/UBSan runtimes the instrumented module needs
# (tests/meson.build).
module=$(find "$destdir$prefix" -name 'shmrefclock*.so' -path '*-packages/*' -print -quit)
if [ -n "$module" ]; then
    module_dir=$(dirname "$module")
    imported=$(cd / && env -u LD_LIBRARY_PATH PYTHONPATH="$module_dir" \
        python3 -c 'import shmrefclock; print(shmrefclock.__file__)' 2>&1)
    case $imported in
        "$module_dir"/*) echo "python: imported $imported" ;;
        *) fail "the Python module installed in $module_dir does not import: $imported" ;;
    esac
elif [ "$python_module" = yes ]; then
    fail "the Python module was built but not installed under $prefix"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "PASS: $count files, all under $prefix"
