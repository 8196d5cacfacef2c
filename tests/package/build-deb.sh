#!/bin/bash
# Build the Debian package from a clean copy of the source tree and check it
# with lintian: no error and no warning (overrides only with a written reason,
# debian/*.lintian-overrides).
#
# Usage: tests/package/build-deb.sh OUTDIR
# Leaves OUTDIR/shmrefclock_*.deb, .changes, .buildinfo and lintian.txt.
# Exit 0 when the package built and lintian is clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in dpkg-buildpackage lintian fakeroot dh; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (tests/package/install-deps.sh)"; exit 1; }
done

# A clean tree: the files git knows (tracked, or new and not ignored), never
# the build directories. dpkg-buildpackage writes its results to the parent
# of the source tree, so that is $out.
rm -rf "$out/src" "$out"/shmrefclock_* "$out"/shmrefclock-dbgsym_*
mkdir -p "$out/src"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$out/src"

start=$(date +%s)
# -J: DEB_BUILD_OPTIONS parallel=N. Without it debhelper runs ninja -j1, and
# the package's compile took one core where the machine has $(nproc).
(cd "$out/src" && dpkg-buildpackage -us -uc -b -J"$(nproc)") > "$out/dpkg-buildpackage.log" 2>&1 || {
    tail -n 60 "$out/dpkg-buildpackage.log"
    echo "FAIL: dpkg-buildpackage -us -uc -b"
    exit 1
}
echo "dpkg-buildpackage: $(($(date +%s) - start)) s"
ls -l "$out"/*.deb

changes=$(ls "$out"/shmrefclock_*.changes)
# --fail-on warning also fails on errors; informational tags are printed.
if ! lintian --fail-on error,warning --info "$changes" > "$out/lintian.txt" 2>&1; then
    cat "$out/lintian.txt"
    echo "FAIL: lintian reports errors or warnings on $(basename "$changes")"
    exit 1
fi
cat "$out/lintian.txt"
echo "PASS: package built, lintian clean"
