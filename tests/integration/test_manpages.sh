#!/bin/bash
# Check that every man page in MANDIR renders cleanly:
#   - `man --warnings -l` (groff with warnings on) prints nothing on stderr;
#   - the page is not empty and renders to more than its header;
#   - its NAME section is one that mandb/whatis/apropos can index (lexgrog);
#   - mandoc -Tlint finds no warning (only where mandoc is installed).
#
# Usage: test_manpages.sh MANDIR
#   MANDIR  a directory holding the pages (shmrefclock.8, shmrefclock.conf.5,
#           ...), named NAME.SECTION
# Exit: 0 pass, 1 fail, 77 skip (man or groff absent).

set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 MANDIR" >&2
    exit 1
fi
mandir=$1

for tool in man groff; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done

shopt -s nullglob
pages=("$mandir"/*.[1-9])
if [ ${#pages[@]} -eq 0 ]; then
    echo "FAIL: no man pages (*.[1-9]) in $mandir"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/shmrefclock-man.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

failures=0
for page in "${pages[@]}"; do
    name=$(basename "$page")
    problems=0
    if [ ! -s "$page" ]; then
        echo "FAIL: $name: empty file"
        failures=$((failures + 1))
        continue
    fi
    # The rendering a user gets on an 80-column UTF-8 terminal; --warnings
    # makes groff report questionable input (bad macros, escapes, fonts).
    LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING= \
        man --warnings -E UTF-8 -l "$page" >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL: $name: man exited $rc"
        problems=$((problems + 1))
    fi
    if [ -s "$work/err" ]; then
        echo "FAIL: $name: warnings while rendering:"
        sed 's/^/    /' "$work/err"
        problems=$((problems + 1))
    fi
    # More than the header and footer lines: a page with no body renders
    # to those alone.
    body_lines=$(grep -c '[^[:space:]]' "$work/out")
    if [ "$body_lines" -le 3 ]; then
        echo "FAIL: $name: renders to $body_lines non-blank line(s)"
        problems=$((problems + 1))
    fi
    # apropos(1) and whatis(1) need a NAME line mandb can parse.
    if command -v lexgrog >/dev/null 2>&1; then
        if ! lexgrog "$page" >"$work/lexgrog" 2>&1; then
            echo "FAIL: $name: lexgrog cannot parse its NAME section:"
            sed 's/^/    /' "$work/lexgrog"
            problems=$((problems + 1))
        fi
    fi
    # mandoc, where installed, catches what groff lets pass (empty blocks,
    # bad macro arguments); STYLE notes are not failures.
    if command -v mandoc >/dev/null 2>&1; then
        if ! mandoc -Tlint -W warning "$page" >"$work/lint" 2>&1; then
            echo "FAIL: $name: mandoc -Tlint:"
            sed 's/^/    /' "$work/lint"
            problems=$((problems + 1))
        fi
    fi
    if [ $problems -eq 0 ]; then
        echo "ok: $name renders cleanly ($body_lines lines)"
    else
        failures=$((failures + 1))
    fi
done

if [ $failures -ne 0 ]; then
    echo "FAIL: $failures of ${#pages[@]} page(s)"
    exit 1
fi
echo "PASS: ${#pages[@]} page(s) render without warnings"
exit 0
