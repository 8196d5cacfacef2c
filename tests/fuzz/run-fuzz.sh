#!/bin/sh
# Build the NMEA libFuzzer target (the parser and the cycle decision, with an
# emulated kernel clock as the witness) and run it for FUZZ_SECONDS (default
# 60), seeded with the receiver captures in tests/data/nmea-captures; then
# the UBX target (the framer, the timing messages' decoders, and the nmea
# source's core on UBX alone or UBX and NMEA cut into each other) for
# FUZZ_UBX_SECONDS (default FUZZ_SECONDS), seeded with the u-blox captures
# in tests/data/ubx.
#
#   tests/fuzz/run-fuzz.sh OUTPUT_DIR
#
# OUTPUT_DIR gets the binary, the corpus (kept between runs, so a later run
# starts where the last one stopped) and, on a finding, the crashing input
# in OUTPUT_DIR/artifacts/; the exit status is then non-zero. Reproduce a
# finding with: OUTPUT_DIR/fuzz_nmea_parser (or fuzz_ubx) OUTPUT_DIR/artifacts/crash-...
# Needs clang with libFuzzer (Debian: clang-14, libclang-rt-14-dev);
# CXX overrides the compiler.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
captures=$root/tests/data/nmea-captures
seconds=${FUZZ_SECONDS:-60}

mkdir -p "$out/corpus" "$out/seeds" "$out/artifacts"

# The target runs the parser and the cycle decision (NmeaCore, replayed, with
# an emulated kernel witness).
# FUZZ_RUN_ONLY=1: the targets are built (tests/run.sh runs this script
# beside run-fuzz-config.sh, and both would write the same core objects).
if [ -z "${FUZZ_RUN_ONLY:-}" ]; then
    "$here/build-target.sh" "$out" fuzz_nmea_parser "$here/fuzz_nmea_parser.cpp"
    "$here/build-target.sh" "$out" fuzz_ubx "$here/fuzz_ubx.cpp"
fi
# FUZZ_BUILD_ONLY=1: build and stop (tests/run.sh builds beside the tests
# and fuzzes later).
[ -z "${FUZZ_BUILD_ONLY:-}" ] || exit 0

# Seeds: each capture in pieces of 20 lines, behind the target's three option
# bytes (see fuzz_nmea_parser.cpp): once as sent, fed whole, with an
# unsynchronized kernel and a fixed epoch; once with checksums rewritten, fed
# in 7-byte chunks, with the floor at 2026-03-16, a kernel synchronized to
# within 50 ms and the system clock within 18 s of the receiver; and once as
# the second but with maxerror 0 and the system clock whole seconds off (the
# receiver's wrong second, or GPS time).
rm -f "$out/seeds/"*
found=0
for log in "$captures"/*.log; do
    found=1
    name=$(basename "$log" .log)
    split -l 20 -d -a 3 "$log" "$out/seeds/$name."
done
if [ "$found" -eq 0 ]; then
    echo "$0: no captures in $captures" >&2
    exit 2
fi
for piece in "$out/seeds/"*; do
    { printf '\000\000\000'; cat "$piece"; } >"$piece.a"
    { printf '\007\007\121'; cat "$piece"; } >"$piece.b"
    { printf '\007\007\201'; cat "$piece"; } >"$piece.c"
    rm "$piece"
done

# Tokens the mutator can splice in: addresses, statuses, dates around the
# pivots and rollovers, the leap second, framing.
cat >"$out/nmea.dict" <<'EOF'
"$GPRMC,"
"$GNRMC,"
"$GPGGA,"
"$GNGGA,"
"$GPZDA,"
"$GPGLL,"
"$GNGNS,"
"$PGRME,"
"!AIVDM,"
",A,"
",V,"
",N*"
",A*"
",D,"
"NDD"
"235960"
"235959.999"
"000000"
"311299"
"010100"
"290200"
"220899"
"22,08,1999"
"31,12,2016"
"*"
"\x0d\x0a"
"\x0a"
EOF

# fuzz TARGET SECONDS MAX_LEN DICT CORPUS SEEDS
fuzz() {
    # libFuzzer's own exit status for a finding is 77, which meson reads as
    # "skipped": ask for 1.
    "$out/$1" \
        -max_total_time="$2" \
        -error_exitcode=1 \
        -max_len="$3" \
        -timeout=10 \
        -dict="$4" \
        -artifact_prefix="$out/artifacts/" \
        -print_final_stats=1 \
        "$5" "$6"
}

echo "fuzzing for $seconds s; corpus $out/corpus"
fuzz fuzz_nmea_parser "$seconds" 4096 "$out/nmea.dict" "$out/corpus" "$out/seeds"

# The UBX framer and decoders: each u-blox capture (without gpsd's '#'
# lines) in pieces of 4 KiB behind the target's option byte (see
# fuzz_ubx.cpp): once fed whole, once in reads of drawn sizes with the
# checksums rewritten.
ubx_seconds=${FUZZ_UBX_SECONDS:-$seconds}
mkdir -p "$out/ubx-corpus" "$out/ubx-seeds"
rm -f "$out/ubx-seeds/"*
for log in "$root"/tests/data/ubx/*.log; do
    name=$(basename "$log" .log)
    # Only gpsd's leading '#' lines go (as tests/unit/test_ubx.cpp reads
    # the captures): a line of binary data may start with '#' too.
    python3 -c 'import sys
data = open(sys.argv[1], "rb").read()
while data.startswith(b"#"):
    data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
sys.stdout.buffer.write(data)' "$log" | split -b 4096 -d -a 3 - "$out/ubx-seeds/$name."
done
for piece in "$out/ubx-seeds/"*; do
    { printf '\000'; cat "$piece"; } >"$piece.a"
    { printf '\053'; cat "$piece"; } >"$piece.b"
    rm "$piece"
done
cat >"$out/ubx.dict" <<'EOF'
"\xb5\x62"
"\xb5\x62\x01\x07\x5c\x00"
"\xb5\x62\x01\x20\x10\x00"
"\xb5\x62\x01\x21\x14\x00"
"\xb5\x62\x01\x26\x18\x00"
"\xb5\x62\x0d\x01\x10\x00"
"\xb5\x62\x0a\x04\x28\x00"
"\xb5\x62\x05\x01\x02\x00"
"\xb5\x62\x05\x00\x02\x00"
"\xff\xff"
"\x00\x08"
"\x01\x08"
"PROTVER="
"PROTVER "
"$GNRMC,"
"$GNZDA,"
"\x0d\x0a"
EOF

# Frames up to Framer::max_frame (2056 bytes) and what surrounds them.
echo "fuzzing the UBX framer for $ubx_seconds s; corpus $out/ubx-corpus"
fuzz fuzz_ubx "$ubx_seconds" 8192 "$out/ubx.dict" "$out/ubx-corpus" "$out/ubx-seeds"
