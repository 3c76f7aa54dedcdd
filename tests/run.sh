#!/bin/bash
# The single entry point of the io_unified test suite.
#
# Usage: tests/run.sh [--no-build] [--tier NAME]... [-h]
#   --no-build    use the programs already built
#   --tier NAME   run only this tier (repeatable); tiers, in order:
#       unit      build/tests/unit/*            (unit tests: layout, rings, buffers, validate,
#                                               the issue-6 contracts), tests/lint.sh and
#                                               tests/abi_check.sh (ABI baseline, abi/)
#       target    build/tests/target/*          (file and loop-device targets; root for losetup)
#       net       build/tests/net/*             (network rings: TCP/UDP over loopback in a private
#                                               network namespace and over veth; root)
#       ingest    tests/ingest/run.sh           (unified-ingest with logger, loggen, rsyslog omfwd and
#                                               omrelp, UDP, malformed streams, 1000 connections, a full
#                                               target, SIGTERM and 100 kill -9 rounds; root)
#       examples  build/examples/seed_flow      (on the embedded default namespace file) and
#                 examples/net_to_nvme          (TCP on loopback to a file target, read back)
#       install   tests/install_check.sh        (make install to a DESTDIR, pkg-config, symbol versions)
#       fio       tests/fio/run.sh              (the fio ioengine, built against Debian's fio source by
#                                               fio/build.sh: verify=crc32c jobs on a file and a loop
#                                               device, kick and thread mode, refusals)
#       asan      build-asan/tests/{unit,target,net}/*, build-asan/tests/stress/fuzz_sqe and
#                 tests/ingest/run.sh on build-asan/tools/unified-ingest
#       tsan      build-tsan/tests/stress/tsan_rings
#       fuzz      build/tests/stress/fuzz_sqe
#       libfuzzer tests/fuzz/run.sh             (libFuzzer harnesses, 20 s each; needs clang)
#       qemu      tests/qemu/guest.sh           (NVMe passthrough in a QEMU guest)
#       kernel    tests/kernel/run.sh           (the kernel series of kernel/patches/ built
#                                               by kernel/build.sh, guest and debug variants,
#                                               booted in QEMU; kernel-log scan; --check)
#
# Environment:
#   UNIFIED_SKIP_QEMU=1        skip the qemu tier
#   UNIFIED_SKIP_KERNEL=1      skip the kernel tier
#   UNIFIED_QEMU_KERNELS="6.1 6.12"  the Debian kernel series the qemu tier boots
#   UNIFIED_FUZZ_COUNT=N       SQEs per mode for fuzz_sqe (default 200000)
#   UNIFIED_FUZZ_SECONDS=N     seconds per libFuzzer harness (default 20)
#   UNIFIED_TEST_TIMEOUT=SEC   limit per program (default 900)
#   UNIFIED_KERNEL_TIMEOUT=SEC limit of the kernel tier (default 3600: cold
#                              kernel builds, two boots and --check)
#   MAKE_JOBS=N                parallel make jobs (default 2)
#
# Every program prints "PASS: ...", "FAIL: ..." or "SKIP: ..." lines; they
# are counted across programs.  A program that exits non-zero (or crashes,
# or times out) without printing a FAIL line counts as one failure, named.
# Programs that do not use the harness (examples) count as one PASS or FAIL.
# The output ends with exactly one line "N passed, N failed, N skipped";
# the exit status is 0 iff nothing failed.
set -euo pipefail

usage() { sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ALL_TIERS=(unit target net ingest examples install fio asan tsan fuzz libfuzzer qemu kernel)
build=1
tiers=()
while (($#)); do
    case "$1" in
        --no-build) build=0 ;;
        --tier)
            [[ $# -ge 2 ]] || { echo "run.sh: --tier needs a name" >&2; usage 2; }
            case " ${ALL_TIERS[*]} " in
                *" $2 "*) tiers+=("$2") ;;
                *) echo "run.sh: unknown tier '$2' (tiers: ${ALL_TIERS[*]})" >&2; exit 2 ;;
            esac
            shift ;;
        --tier=*)
            t="${1#--tier=}"
            case " ${ALL_TIERS[*]} " in
                *" $t "*) tiers+=("$t") ;;
                *) echo "run.sh: unknown tier '$t' (tiers: ${ALL_TIERS[*]})" >&2; exit 2 ;;
            esac ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
    shift
done
((${#tiers[@]})) || tiers=("${ALL_TIERS[@]}")

selected() {
    local t
    for t in "${tiers[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    return 1
}

jobs="${MAKE_JOBS:-2}"
test_timeout="${UNIFIED_TEST_TIMEOUT:-900}"
fuzz_count="${UNIFIED_FUZZ_COUNT:-200000}"

# Temp files: a private directory on a disk file system (O_DIRECT does not
# work on tmpfs), removed on exit.  Test programs put their files under
# $TMPDIR.
base=/var/tmp
[[ -d "$base" && -w "$base" ]] || base="${TMPDIR:-/tmp}"
tmpdir="$(mktemp -d "$base/unified-tests.XXXXXX")"
cleanup() { rm -rf "$tmpdir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fstype="$(stat -f -c %T "$tmpdir" 2>/dev/null || echo unknown)"
if [[ "$fstype" == tmpfs || "$fstype" == ramfs ]]; then
    echo "note: $tmpdir is on $fstype; file targets need O_DIRECT and will fail there" >&2
fi
export TMPDIR="$tmpdir"

passed=0
failed=0
skipped=0
failures=()

# ---------------------------------------------------------------- building

declare -A build_failed=()

run_make() {   # run_make KEY make-args...
    local key="$1" log="$tmpdir/make-$1.log"
    shift
    echo "--- make $*"
    # -k: build everything that can be built; a failure is counted here and
    # the tiers still run (the failed programs may be missing or stale).
    if make -k "$@" >"$log" 2>&1; then
        return 0
    fi
    tail -n 40 "$log"
    echo "FAIL: build: make $* (see the output above)"
    failed=$((failed + 1))
    failures+=("build: make $*")
    build_failed[$key]=1
    return 0
}

if ((build)); then
    echo "=== build"
    if selected unit || selected target || selected net || selected ingest || selected examples ||
        selected install || selected fuzz; then
        run_make all -j"$jobs" all
    fi
    if selected asan; then
        run_make asan -j"$jobs" SAN=asan tests build-asan/tools/unified-ingest
    fi
    if selected tsan; then
        run_make tsan -j"$jobs" SAN=tsan tests
    fi
fi

# ---------------------------------------------------------------- running

tier_header() { echo; echo "=== tier $1: $2"; }

tier_skip() {   # tier_skip TIER REASON
    echo "SKIP: tier $1: $2"
    skipped=$((skipped + 1))
}

signame() {
    local n=$(( $1 - 128 ))
    kill -l "$n" 2>/dev/null || echo "$n"
}

# run_prog MODE NAME CMD... : run one program, print its output, count it.
# MODE "harness": count its PASS/FAIL/SKIP lines; "plain": exit status only.
run_prog() {
    local mode="$1" name="$2" log rc p f s why=""
    shift 2
    log="$(mktemp "$tmpdir/out.XXXXXX")"
    echo "--- $name"
    set +e
    timeout -k 10 "$test_timeout" "$@" </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    # Guest consoles use CRLF line ends.
    p=$(tr -d '\r' <"$log" | grep -c '^PASS: ' || true)
    f=$(tr -d '\r' <"$log" | grep -c '^FAIL: ' || true)
    s=$(tr -d '\r' <"$log" | grep -c '^SKIP: ' || true)
    if [[ "$mode" == plain ]]; then
        p=0 f=0 s=0
        if ((rc == 0)); then
            echo "PASS: $name"
            p=1
        fi
    fi
    if ((rc == 124 || rc == 137)); then
        why="timed out after ${test_timeout}s"
    elif ((rc > 128)); then
        why="killed by signal $(signame "$rc")"
    elif ((rc != 0)); then
        why="exited with status $rc"
    elif tr -d '\r' <"$log" | grep -qE '^(==[0-9]+==ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|SUMMARY: (Address|Undefined|Thread)Sanitizer)|runtime error: '; then
        why="sanitizer report in the output"
        rc=1
    fi
    if ((rc != 0)); then
        if ((f == 0)); then
            echo "FAIL: $name: $why"
            f=1
        elif ((rc != 1)); then
            echo "note: $name also $why"
        fi
    fi
    if ((f)); then
        failures+=("$name")
    fi
    if ((p + f + s == 0)); then
        echo "note: $name printed no PASS/FAIL/SKIP line"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    rm -f "$log"
}

# run_dir TIER MODE DIR: every executable in DIR.
run_dir() {
    local tier="$1" mode="$2" dir="$3" prog any=0
    for prog in "$dir"/*; do
        [[ -f "$prog" && -x "$prog" ]] || continue
        any=1
        run_prog "$mode" "$prog" "$prog"
    done
    ((any)) || tier_skip "$tier" "no programs in $dir (build first, or drop --no-build)"
}

needs_build() {   # needs_build TIER KEY: warn if the tier's build failed
    if [[ -n "${build_failed[$2]:-}" ]]; then
        echo "note: the $2 build failed (counted above); programs it did not rebuild are missing or stale"
    fi
    return 0
}


for tier in "${ALL_TIERS[@]}"; do
    selected "$tier" || continue
    case "$tier" in
    unit)
        tier_header unit "build/tests/unit/*"
        needs_build unit all && run_dir unit harness build/tests/unit
        run_prog harness "tests/lint.sh (close-on-exec, secure_getenv in lib/)" tests/lint.sh
        run_prog harness "tests/man_check.sh (a page per exported symbol; mandoc -T lint, groff -ww)" \
            tests/man_check.sh build/lib/libunified.so
        if needs_build unit all; then
            run_prog harness "tests/plot_check.sh (unified-bench --json, scripts/plot-bench.sh PNGs)" \
                tests/plot_check.sh
            run_prog harness "tests/abi_check.sh (abidiff and pahole against abi/)" \
                tests/abi_check.sh build/lib/libunified.so.0
            run_prog harness "tests/abi_check.sh --self-test (each check can fail)" \
                tests/abi_check.sh --self-test
        fi
        ;;
    target)
        tier_header target "build/tests/target/* (the loop-device cases need root and losetup)"
        if [[ $EUID -ne 0 ]]; then
            echo "note: not root: the loop-device cases will SKIP"
        elif ! command -v losetup >/dev/null; then
            echo "note: losetup not found: the loop-device cases will SKIP"
        fi
        needs_build target all && run_dir target harness build/tests/target
        ;;
    net)
        tier_header net "build/tests/net/* (network namespaces and veth: root, else the cases SKIP)"
        needs_build net all && run_dir net harness build/tests/net
        ;;
    ingest)
        tier_header ingest "tests/ingest/run.sh: unified-ingest with real clients (root: a private network namespace)"
        needs_build ingest all && run_prog harness "tests/ingest/run.sh" tests/ingest/run.sh
        ;;
    examples)
        tier_header examples "build/examples/seed_flow on the embedded default namespace, net_to_nvme"
        if needs_build examples all; then
            if [[ -x build/examples/seed_flow ]]; then
                run_prog plain "build/examples/seed_flow (default target)" \
                    env UNIFIED_DEFAULT_FILE="$tmpdir/seed-default.img" build/examples/seed_flow
                rm -f "$tmpdir/seed-default.img"
            else
                tier_skip examples "build/examples/seed_flow is not built"
            fi
            if [[ -x build/examples/net_to_nvme ]]; then
                run_prog harness "tests/net/example_check.sh (examples/net_to_nvme over loopback)" \
                    tests/net/example_check.sh
            else
                tier_skip examples "build/examples/net_to_nvme is not built"
            fi
        fi
        ;;
    install)
        tier_header install "make install into a DESTDIR, then build and run the example against it"
        if needs_build install all; then
            run_prog plain "install: make install, pkg-config build, versioned symbols, seed_flow on libunified.so" \
                tests/install_check.sh "$tmpdir/install"
        fi
        ;;
    fio)
        tier_header fio "tests/fio/run.sh (libunified-fio.so in fio 3.33 jobs)"
        if needs_build fio all; then
            run_prog harness "fio: the ioengine plugin (build/fio/libunified-fio.so)" tests/fio/run.sh build
        fi
        ;;
    asan)
        tier_header asan "ASan+UBSan: build-asan/tests/{unit,target,net}/*, unified-ingest, fuzz_sqe"
        if needs_build asan asan; then
            export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
            export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
            run_dir asan harness build-asan/tests/unit
            run_dir asan harness build-asan/tests/target
            run_dir asan harness build-asan/tests/net
            # unified-ingest under ASan+UBSan: the cases that reach every
            # path of the server, fewer kill -9 rounds
            if [[ -x build-asan/tools/unified-ingest ]]; then
                run_prog harness "tests/ingest/run.sh with build-asan/tools/unified-ingest" \
                    env UNIFIED_INGEST_BIN="$PWD/build-asan/tools/unified-ingest" UNIFIED_INGEST_ROUNDS=5 \
                    tests/ingest/run.sh logger rsyslog udp malformed relp_abuse many churn idle torn bigmsg full kill9
            else
                tier_skip asan "build-asan/tools/unified-ingest is not built"
            fi
            if [[ -x build-asan/tests/stress/fuzz_sqe ]]; then
                run_prog harness build-asan/tests/stress/fuzz_sqe \
                    build-asan/tests/stress/fuzz_sqe "$fuzz_count"
            else
                tier_skip asan "build-asan/tests/stress/fuzz_sqe is not built"
            fi
            unset ASAN_OPTIONS UBSAN_OPTIONS
        fi
        ;;
    tsan)
        tier_header tsan "TSan: build-tsan/tests/stress/tsan_rings"
        if needs_build tsan tsan; then
            if [[ -x build-tsan/tests/stress/tsan_rings ]]; then
                run_prog harness build-tsan/tests/stress/tsan_rings \
                    env TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/stress/tsan_rings
                # the wake-up protocol cases of the contracts (engine thread + application)
                run_prog harness "build-tsan/tests/unit/contracts item4" \
                    env TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/unit/contracts item4
            else
                tier_skip tsan "build-tsan/tests/stress/tsan_rings is not built"
            fi
        fi
        ;;
    fuzz)
        tier_header fuzz "build/tests/stress/fuzz_sqe ($fuzz_count SQEs per mode)"
        if needs_build fuzz all; then
            if [[ -x build/tests/stress/fuzz_sqe ]]; then
                run_prog harness build/tests/stress/fuzz_sqe build/tests/stress/fuzz_sqe "$fuzz_count"
            else
                tier_skip fuzz "build/tests/stress/fuzz_sqe is not built"
            fi
        fi
        ;;
    libfuzzer)
        tier_header libfuzzer "libFuzzer harnesses, ${UNIFIED_FUZZ_SECONDS:-20} s each (tests/fuzz/run.sh)"
        if ! command -v clang >/dev/null 2>&1; then
            tier_skip libfuzzer "clang not found (scripts/deps.sh installs clang, libclang-rt-14-dev, libfuzzer-14-dev)"
        elif ((build)); then
            # Builds build-fuzz/ itself; prints SKIP if libFuzzer cannot link.
            run_prog harness tests/fuzz/run.sh tests/fuzz/run.sh
        else
            run_prog harness tests/fuzz/run.sh tests/fuzz/run.sh --no-build
        fi
        ;;
    qemu)
        # One counted run per kernel series of UNIFIED_QEMU_KERNELS (default
        # "6.1 6.12"); case names carry the series, e.g. "[6.12] test_admin".
        # A kernel whose package cannot be fetched is one SKIP.
        tier_header qemu "NVMe passthrough in QEMU guests, kernels ${UNIFIED_QEMU_KERNELS:-6.1 6.12} (tests/qemu/guest.sh)"
        if [[ -n "${UNIFIED_SKIP_QEMU:-}" ]]; then
            tier_skip qemu "UNIFIED_SKIP_QEMU is set"
        elif [[ ! -e tests/qemu/run.sh ]]; then
            tier_skip qemu "tests/qemu/run.sh does not exist"
        elif [[ ! -e tests/qemu/guest.sh ]]; then
            tier_skip qemu "tests/qemu/guest.sh does not exist yet"
        else
            run_prog harness tests/qemu/guest.sh bash tests/qemu/guest.sh
        fi
        ;;
    kernel)
        # The series on linux-source-6.12: builds (cached by kernel/build.sh),
        # boots of the guest and debug kernels, kernel-log scans, --check.
        # A cold run builds three kernels: it gets its own time limit.
        tier_header kernel "the patched 6.12 kernel in QEMU: guest and debug variants, build.sh --check (tests/kernel/run.sh)"
        if [[ -n "${UNIFIED_SKIP_KERNEL:-}" ]]; then
            tier_skip kernel "UNIFIED_SKIP_KERNEL is set"
        elif [[ ! -e tests/kernel/run.sh ]]; then
            tier_skip kernel "tests/kernel/run.sh does not exist"
        else
            saved_timeout=$test_timeout
            test_timeout="${UNIFIED_KERNEL_TIMEOUT:-3600}"
            run_prog harness tests/kernel/run.sh tests/kernel/run.sh
            test_timeout=$saved_timeout
        fi
        ;;
    esac
done

echo
if ((${#failures[@]})); then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
