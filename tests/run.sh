#!/bin/bash
# The test command (README, .ci/run): install what is missing, then build and
# run every suite twice, once plain with -Werror and once with ASan + UBSan
# (-fno-sanitize-recover=all), then run the fuzz targets, the cross builds'
# unit tests under qemu-user, the Debian package build with lintian and the
# system tests in systemd-nspawn containers (tests/README.md). Ends with the
# table of stages and their wall times, then one line
# "N passed, N failed, N skipped" counted from meson's testlog.json files.
#
# The machine has two cores, and much of the run waits rather than computes:
# apt and mmdebstrap on the network, the integration tests on real seconds.
# So downloads start first, every compile after the plain build runs at the
# idle priority beside the tests, and the sanitizer suite starts as soon as
# its build is done, beside the plain suite if that still runs
# (tests/README.md, "Time budget", has the schedule and what each stage
# costs):
#
#   install | plain build | plain tests .....................
#                         | sanitizer build (idle) | sanitizer tests ..........
#                                  | fuzz, package, cross builds, cross tests, fuzz runs (idle)
#                                            | containers
#   cross/system deps, container roots (idle, from the start)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

# Compile through ccache (meson uses it when it is on PATH; tests/cross/run.sh
# names it in the cross files; tests/fuzz/build-target.sh calls it): every
# suite, the cross builds and the package build compile the same sources
# again, and CI builds a fresh clone each time. Paths are hashed relative to
# the clone, so another clone of the same commit finds the objects. The cache
# lives outside the clone, and outside HOME, which debhelper moves during the
# package build.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/shmrefclock-tests/ccache}
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=true

fuzz_seconds=${FUZZ_SECONDS:-60}
status=0
mkdir -p build/logs
run_start=$(date +%s)
stages=build/stages.txt
: > "$stages"

# stage NAME COMMAND...: run COMMAND as one row of the stage table (its start
# within the run, its wall time, its result).
stage() {
    local name=$1 start rc
    shift
    start=$(date +%s)
    echo "=== [$((start - run_start)) s] $name"
    "$@"
    rc=$?
    printf '%s\t%d\t%d\t%s\n' "$name" "$((start - run_start))" "$(($(date +%s) - start))" \
        "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED ($rc)")" >> "$stages"
    echo "=== [$(($(date +%s) - run_start)) s] $name: $(($(date +%s) - start)) s, exit $rc"
    return "$rc"
}

# Background jobs: started with `background ID FUNCTION...`, their output
# kept in build/logs/ID.log and printed when `join ID` waits for them, so
# that the log stays readable.
declare -A job_pid
background() { # ID COMMAND...
    local id=$1
    shift
    echo "=== [$(($(date +%s) - run_start)) s] started in the background: $id (build/logs/$id.log)"
    "$@" > "build/logs/$id.log" 2>&1 &
    job_pid[$id]=$!
}
# idle COMMAND...: under SCHED_IDLE (chrt --idle) and the idle I/O class
# (ionice -c 3), for every compile and download beside the tests: it gets a
# core or the disk only when no test wants them, so that a test's fake
# receiver or daemon is never held up behind it (at nice 10, fake receivers
# stalled 30 ms between two bytes of a cycle).
#
# And inside a CPU quota of 1.7 of the two CPUs (background_cgroup): on this
# VM, two CPUs kept busy even by SCHED_IDLE work stall every task of the
# guest, SCHED_FIFO ones included, for about 100 ms at a time (measured: a
# real-time thread sleeping 1 ms at a time saw 101 ms gaps beside two
# SCHED_IDLE CPU hogs; none beside one hog, two at 95 % load, or two under
# this quota with a third process at normal priority). The hypervisor
# takes the CPUs away; no priority inside the guest helps. The fake
# receivers stalled 100 ms that way in CI, and the daemon rightly refuses
# a receiver whose cycles move by more than 50 ms.
background_cgroup=
make_background_cgroup() {
    local v1=/sys/fs/cgroup/cpu v2=/sys/fs/cgroup
    if [ -w "$v1/cgroup.procs" ] && [ -e "$v1/cpu.cfs_quota_us" ]; then
        mkdir -p "$v1/shmrefclock-background" &&
            echo 10000 > "$v1/shmrefclock-background/cpu.cfs_period_us" &&
            echo 17000 > "$v1/shmrefclock-background/cpu.cfs_quota_us" &&
            background_cgroup=$v1/shmrefclock-background
    elif [ -e "$v2/cgroup.subtree_control" ] && grep -qw cpu "$v2/cgroup.controllers" 2>/dev/null; then
        echo +cpu > "$v2/cgroup.subtree_control" 2>/dev/null
        mkdir -p "$v2/shmrefclock-background" &&
            echo "17000 10000" > "$v2/shmrefclock-background/cpu.max" &&
            background_cgroup=$v2/shmrefclock-background
    fi
    if [ -n "$background_cgroup" ]; then
        echo "background work runs in $background_cgroup (1.7 CPUs)"
    else
        echo "WARNING: no CPU quota for the background work (no writable cpu cgroup):" \
            "timing tests may meet 100 ms stalls while it runs" >&2
    fi
}
# Once both suites have ended nothing times itself beside the background
# work any more (the cross builds' unit tests and the containers' readings
# do not depend on the load): the quota goes, and the builds, the qemu
# tests and the fuzz runs left get both CPUs.
lift_background_quota() {
    [ -n "$background_cgroup" ] || return 0
    if [ -e "$background_cgroup/cpu.max" ]; then
        echo "max 10000" > "$background_cgroup/cpu.max"
    else
        echo -1 > "$background_cgroup/cpu.cfs_quota_us"
    fi && echo "=== [$(($(date +%s) - run_start)) s] both suites ended: background quota lifted"
}
idle() {
    (if [ -n "$background_cgroup" ]; then echo "$BASHPID" > "$background_cgroup/cgroup.procs"; fi
     chrt --idle -p 0 "$BASHPID" && ionice -c 3 -p "$BASHPID" && "$@")
}
join() { # ID: wait for it, print its log; its exit status
    local id=$1 rc
    wait "${job_pid[$id]}"
    rc=$?
    echo "=== [$(($(date +%s) - run_start)) s] joined $id (exit $rc); its log:"
    sed 's/^/    /' "build/logs/$id.log"
    return "$rc"
}

setup() { # DIR ARGS...
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        # meson configure, not setup --reconfigure: Meson 1.0 (bookworm)
        # ignores a changed -Dcpp_args on reconfigure.
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

native_build() { # DIR ARGS...: configure and compile a native suite
    local dir=$1
    shift
    rm -f "$dir/meson-logs/testlog.json"
    setup "$dir" -Dwerror=true -Dsystemd=enabled -Dtests=enabled "$@" ||
        { echo "meson setup failed in $dir" >&2; return 1; }
    ninja -C "$dir" || { echo "build failed in $dir" >&2; return 1; }
    tests/integration/fetch-ntpsec.sh "$dir/ntpsec-root"
}
# -g1: line tables only, enough for the file:line of every frame of a
# sanitizer report; full -g costs a sixth more compile time and adds only
# the local variables, which a report never prints. Not -Og (28 % faster
# to compile than the default -Os): with it every daemon run under the PPS
# and clock emulators overflowed its stack at start in the ASan build
# (cold trial of 17f2349, 13 integration tests), and the cause is not yet
# known.
# A unity build (four files per compile, as the cross builds: tests/cross/
# run.sh says why): the plain build still compiles each file on its own.
sanitizer_build() {
    native_build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false -Dunity=on \
        "-Dcpp_args=-fno-sanitize-recover=all -g1"
}

native_tests() { # DIR
    NTPSEC_ROOT="$top/$1/ntpsec-root" meson test -C "$1" --no-rebuild --print-errorlogs \
        --num-processes 2
}

# libFuzzer targets (clang): each script builds its target(s) and fuzzes for
# FUZZ_SECONDS; each run counts as one test in the summary.
fuzz_scripts=(tests/fuzz/run-fuzz.sh tests/fuzz/run-fuzz-config.sh)
fuzz_log=build/fuzz/results.txt
fuzz_builds() {
    # Build only (FUZZ_SECONDS=0 stops after the build and the seeds).
    local target
    for target in "${fuzz_scripts[@]}"; do
        FUZZ_BUILD_ONLY=1 "$target" build/fuzz || return 1
    done
}
# The scripts side by side, a core each (each runs its targets one after
# the other, FUZZ_SECONDS of wall time each), inside the background quota
# like the builds before them. On a cold machine they come last, after the
# suites have ended, and one script after the other left a CPU idle for
# the whole stage (240 s of the cold run's end).
fuzz_runs() {
    local target name rc=0
    local -A pid
    : > "$fuzz_log"
    for target in "${fuzz_scripts[@]}"; do
        name=$(basename "$target" .sh)
        echo "--- fuzz: $target for ${fuzz_seconds} s per target"
        # Built by fuzz_builds: the two scripts must not write the same
        # objects at once.
        FUZZ_RUN_ONLY=1 FUZZ_SECONDS=$fuzz_seconds "$target" build/fuzz > "build/fuzz/$name.log" 2>&1 &
        pid[$target]=$!
    done
    for target in "${fuzz_scripts[@]}"; do
        name=$(basename "$target" .sh)
        if wait "${pid[$target]}"; then
            echo "OK $target" >> "$fuzz_log"
            echo "--- $target:"
            tail -n 3 "build/fuzz/$name.log"
        else
            echo "FAIL $target" >> "$fuzz_log"
            echo "--- $target (failed):"
            tail -n 40 "build/fuzz/$name.log"
            rc=1
        fi
    done
    return "$rc"
}

# The Debian package, then the system tests on it. Each step is one line
# "OK ..." / "FAIL ..." in $system_log.
system_log=build/system/results.txt
package() {
    if tests/package/build-deb.sh build/deb; then
        echo "OK package: dpkg-buildpackage -us -uc -b, lintian clean" >> "$system_log"
    else
        echo "FAIL package: dpkg-buildpackage or lintian (build/deb/)" >> "$system_log"
        return 1
    fi
}
container() { # SUITE
    local deb
    deb=$(ls build/deb/shmrefclock_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
    if [ -z "$deb" ]; then
        echo "FAIL $1: no package to install" >> "$system_log"
        return 1
    fi
    tests/system/systemd-container.sh "$1" "$deb" "$system_log"
}

# What waits on the network: the cross toolchains and the target's
# libraries, debhelper and lintian, then the containers' roots
# (mmdebstrap, cached across runs in /var/cache/shmrefclock-tests).
# Each step leaves a marker for the jobs that need it (ready NAME), made
# whether or not it succeeded: a job that needs a failed step fails itself.
prepare() {
    local rc=0
    stage "install: cross, package and system dependencies" \
        idle bash -c 'tests/cross/install-deps.sh && tests/system/install-deps.sh' || rc=1
    touch build/logs/ready-deps
    [ "$rc" -eq 0 ] || { touch build/logs/ready-roots; return 1; }
    stage "container roots (mmdebstrap, cached)" \
        idle bash -c 'tests/system/systemd-container.sh --root-only bookworm &&
                      tests/system/systemd-container.sh --root-only trixie' || rc=1
    touch build/logs/ready-roots
    return "$rc"
}
ready() { # NAME: wait for prepare's marker
    while [ ! -e "build/logs/ready-$1" ]; do sleep 1; done
}

# The sanitizer suite: its build at the idle priority, then its tests at
# the normal one, beside the plain tests if they still run. The marker file
# tells the other builds to start: they would only slow this one down.
sanitizer_built=build/logs/sanitizer-built
sanitizer() {
    stage "sanitizer: build" idle sanitizer_build
    local rc=$?
    touch "$sanitizer_built"
    [ "$rc" -eq 0 ] || return "$rc"
    stage "sanitizer: tests" native_tests build-sanitize
}
other_builds() {
    local rc=0 containers_pid
    while [ ! -e "$sanitizer_built" ]; do sleep 1; done
    stage "fuzz: build the targets" idle fuzz_builds || rc=1
    ready deps
    stage "package: dpkg-buildpackage and lintian" idle package || rc=1
    # The containers mostly wait on systemd: at the normal priority, beside
    # the cross builds.
    containers &
    containers_pid=$!
    stage "cross: build arm64, armhf, armhf-time64" idle tests/cross/run.sh --build-only || rc=1
    stage "cross: unit tests under qemu-user" idle tests/cross/run.sh --test-only || rc=1
    # The fuzz runs take one core for FUZZ_SECONDS each, at the idle
    # priority inside the background quota, beside both test suites (which
    # mostly wait on their fake receivers), as the cross builds before them
    # take two. After the plain tests they came last: 1308 s warm (ci18),
    # against the 20 minutes of issue 17.
    stage "fuzz: run each target" idle fuzz_runs || rc=1
    wait "$containers_pid" || rc=1
    return "$rc"
}
containers() {
    local suite rc=0
    ready roots
    for suite in bookworm trixie; do
        stage "system test: $suite container" container "$suite" || rc=1
    done
    return "$rc"
}

mkdir -p build/fuzz build/system
: > "$fuzz_log"
: > "$system_log"
: > build/system/measured.txt
rm -f "$sanitizer_built" build/logs/ready-*

stage "install: build and test dependencies" tests/install-deps.sh || exit 1
make_background_cgroup
background prepare prepare
# The plain build without debug information: GCC generates the same code
# with and without -g, and -g costs a fifth of the compile time. The
# sanitizer build keeps the line tables (-g1), for its reports.
stage "plain: build" native_build build -Ddebug=false || status=1
background sanitizer sanitizer
background other-builds other_builds
stage "plain: tests" native_tests build || status=1
join sanitizer || status=1
lift_background_quota
join prepare || status=1
join other-builds || status=1

echo "=== measured"
cat build/system/measured.txt

echo "=== stages (wall time; background stages overlap the others)"
total=$(($(date +%s) - run_start))
awk -F'\t' -v total="$total" '
    { printf "%-50s %6s s  at %5s s  %s\n", $1, $3, $2, $4 }
    END { printf "%-50s %6s s\n", "total", total }' "$stages" | tee build/stages-table.txt

python3 - "$fuzz_log" "$system_log" build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json \
    build-cross-arm64/meson-logs/testlog.json build-cross-armhf/meson-logs/testlog.json \
    build-cross-armhf-time64/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
# fuzz and system: one line per run or step, "OK ..." or "FAIL ...".
fuzz, system, logs = sys.argv[1], sys.argv[2], sys.argv[3:]
for path in logs:
    if not os.path.exists(path):
        print(f"{path}: missing (the build failed)")
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            result = entry["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                # A prerequisite is absent (tests/README.md): say which.
                print(f"skipped: {entry['name']} ({path})")
                skipped += 1
            else:
                failed += 1
for name, path in (("fuzz", fuzz), ("system", system)):
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        print(f"{name}: no results (the stage did not run)")
        failed += 1
    for line in lines:
        if line.startswith("OK "):
            passed += 1
        else:
            print(f"{name}: {line.strip()}")
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
[ $? -eq 0 ] || status=1
exit $status
