#!/bin/bash
# The quick start's demo (tests/demo-run.sh) as a new user meets it: it shows
# five samples from unit 2, about one second behind the clock, then the
# status of the running daemon, and logs no warning or error on the way
# (issue 23: it warned on every fresh machine that the control socket could
# not be bound under /run/shmrefclock).
#
# Usage: test_demo.sh BUILD_DIR
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
output=$(mktemp "${TMPDIR:-/tmp}/shmrefclock-demo-test.XXXXXX")
trap 'rm -f "$output"' EXIT

# No fixed wait: the demo ends by itself after five samples (meson's timeout
# bounds a demo that never gets them).
"$top/tests/demo-run.sh" "$1" > "$output" 2>&1
status=$?
echo "--- the demo's output (exit $status):"
cat "$output"
echo "---"

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
[ "$status" -eq 0 ] || fail "the demo exited with $status"
# spdlog's level names in the console pattern ("... warning control socket: ...").
if grep -E ' (warning|error|critical) ' "$output" > /dev/null; then
    fail "the demo logged a warning or an error:"
    grep -E ' (warning|error|critical) ' "$output"
fi
samples=$(grep -cE '^unit 2 ' "$output")
[ "$samples" -ge 5 ] || fail "$samples samples of unit 2 shown, expected 5"
grep -q 'off-by-one' <(sed -n '/^shmrefclock status:/,$p' "$output") ||
    fail "shmrefclock status did not show the refclock off-by-one"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "PASS: $samples samples, status shown, no warning"
