#!/bin/bash
# Coverage-guided fuzzing of libunified with libFuzzer (docs/fuzzing.md).
# Builds the fuzz variant (make SAN=fuzz CC=clang fuzzers, into build-fuzz/)
# and runs each harness for a while on a copy of its seed corpus
# (tests/fuzz/corpus/NAME/).
#
# Usage: tests/fuzz/run.sh [--no-build] [--replay] [NAME...]
#   NAME          fuzz_sqe_batch, fuzz_register, fuzz_rings, fuzz_framing (default: all)
#   --no-build    use the harnesses already in build-fuzz/tests/fuzz/
#   --replay      do not fuzz: run each saved finding in tests/fuzz/crashes/NAME/
#                 once (they fail until the bug they show is fixed)
#
# Environment:
#   UNIFIED_FUZZ_SECONDS=N       seconds per harness (default 20: a minute in all);
#                                long runs: UNIFIED_FUZZ_SECONDS=3600 tests/fuzz/run.sh
#   UNIFIED_FUZZ_ARTIFACTS=DIR   where crashing inputs are saved
#                                (default build-fuzz/fuzz-artifacts/NAME/)
#   UNIFIED_FUZZ_KEEP_CORPUS=DIR keep each harness's grown corpus in DIR/NAME/
#   CC (default clang), WERROR (default 1), MAKE_JOBS (default 2)
#
# Prints one line per harness in the suite's format, with the executions
# and the coverage libFuzzer reports at the end ("cov": edges, "ft":
# features):
#   PASS: libfuzzer NAME: N execs in S s, cov C, ft F, corpus K
#   FAIL: libfuzzer NAME: why (input saved to FILE; reproduce: build-fuzz/tests/fuzz/NAME FILE)
#   SKIP: libfuzzer: why (clang or libFuzzer missing)
# Exits 1 if a harness found something (or the build failed), else 0.
set -uo pipefail

usage() { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ALL=(fuzz_sqe_batch fuzz_register fuzz_rings fuzz_framing)
declare -A MAXLEN=([fuzz_sqe_batch]=8212 [fuzz_register]=160 [fuzz_rings]=1000 [fuzz_framing]=4096)
build=1
replay=0
names=()
while (($#)); do
    case "$1" in
        --no-build) build=0 ;;
        --replay) replay=1 ;;
        -h|--help) usage 0 ;;
        -*) echo "run.sh: unknown option '$1'" >&2; usage 2 ;;
        *)
            case " ${ALL[*]} " in
                *" $1 "*) names+=("$1") ;;
                *) echo "run.sh: unknown harness '$1' (harnesses: ${ALL[*]})" >&2; exit 2 ;;
            esac ;;
    esac
    shift
done
((${#names[@]})) || names=("${ALL[@]}")

secs="${UNIFIED_FUZZ_SECONDS:-20}"
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || { echo "run.sh: UNIFIED_FUZZ_SECONDS must be a positive integer" >&2; exit 2; }
export CC="${CC:-clang}"
jobs="${MAKE_JOBS:-2}"

# A private temp directory on a disk file system (the harnesses' file
# targets need O_DIRECT, which tmpfs refuses); removed on exit.
base="${TMPDIR:-/var/tmp}"
case "$(stat -f -c %T "$base" 2>/dev/null || echo unknown)" in
    tmpfs|ramfs|unknown) base=/var/tmp ;;
esac
tmp="$(mktemp -d "$base/unified-fuzz-run.XXXXXX")" || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export TMPDIR="$tmp"

# clang and the libFuzzer runtime (Debian: clang, libclang-rt-14-dev; see
# scripts/deps.sh).
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "SKIP: libfuzzer: $CC not found (Debian: apt-get install clang)"
    exit 0
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$tmp/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined -o "$tmp/probe" "$tmp/probe.c" >"$tmp/probe.log" 2>&1; then
    echo "SKIP: libfuzzer: $CC cannot link -fsanitize=fuzzer ($(head -n 1 "$tmp/probe.log"))"
    exit 0
fi

if ((build)); then
    echo "--- make SAN=fuzz CC=$CC fuzzers"
    if ! make -j"$jobs" SAN=fuzz CC="$CC" fuzzers >"$tmp/make.log" 2>&1; then
        tail -n 40 "$tmp/make.log"
        echo "FAIL: libfuzzer build: make SAN=fuzz CC=$CC fuzzers (see the output above)"
        exit 1
    fi
    if grep -q 'warning:' "$tmp/make.log"; then
        echo "note: the fuzz build printed warnings:"
        grep 'warning:' "$tmp/make.log" | sort -u | head -n 20
    fi
fi

failed=0
if ((replay)); then
    any=0
    for name in "${names[@]}"; do
        for input in tests/fuzz/crashes/"$name"/*; do
            [[ -f "$input" ]] || continue
            any=1
            if "build-fuzz/tests/fuzz/$name" "$input" >"$tmp/replay.log" 2>&1; then
                echo "PASS: libfuzzer replay $input"
            else
                failed=1
                why=$(grep -m 1 -E 'ORACLE FAILED: .*|==[0-9]+==ERROR.*|runtime error.*' "$tmp/replay.log")
                echo "FAIL: libfuzzer replay $input: ${why:-exited with an error}"
            fi
        done
    done
    ((any)) || echo "note: no saved findings in tests/fuzz/crashes/ (fixed ones are in the corpus as found-*)"
    exit "$failed"
fi
for name in "${names[@]}"; do
    bin="build-fuzz/tests/fuzz/$name"
    if [[ ! -x "$bin" ]]; then
        echo "FAIL: libfuzzer $name: $bin is not built"
        failed=1
        continue
    fi
    art="${UNIFIED_FUZZ_ARTIFACTS:-build-fuzz/fuzz-artifacts}/$name"
    mkdir -p "$art" "$tmp/$name/corpus"
    cp tests/fuzz/corpus/"$name"/* "$tmp/$name/corpus/" 2>/dev/null
    log="$tmp/$name/log"
    echo "--- $name: $secs s on a copy of tests/fuzz/corpus/$name/"
    start=$SECONDS
    timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -print_final_stats=1 \
        -timeout=30 -rss_limit_mb=2048 -max_len="${MAXLEN[$name]}" -artifact_prefix="$art/" \
        "$tmp/$name/corpus" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    stats=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$stats")
    figures="${execs:-?} execs in $took s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if [[ -n "${UNIFIED_FUZZ_KEEP_CORPUS:-}" ]]; then
        mkdir -p "$UNIFIED_FUZZ_KEEP_CORPUS/$name"
        cp "$tmp/$name/corpus/"* "$UNIFIED_FUZZ_KEEP_CORPUS/$name/" 2>/dev/null
    fi
    if ((rc == 0)) && ! grep -qE 'ORACLE FAILED|ERROR: libFuzzer|ERROR: AddressSanitizer' "$log"; then
        echo "PASS: libfuzzer $name: $figures"
        continue
    fi
    failed=1
    why=$(grep -m 1 -o 'ORACLE FAILED: .*' "$log")
    [[ -n "$why" ]] || why=$(grep -m 1 -E '^SUMMARY: |ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$log")
    [[ -n "$why" ]] || why="exited with status $rc"
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    # The evidence: the report and the first frames of the stack.
    { grep -m 1 -E 'ORACLE FAILED|==[0-9]+==ERROR|runtime error' "$log"
      grep -E '^ *#[0-9]+ ' "$log" |
          grep -vE 'fuzzer::|__sanitizer_print_stack_trace|/libc\.so|nptl/|signal/\.\./|stdlib/|fz_fail| in main |_start|csu/' |
          head -n 10; } | sed 's/^/    /'
    if [[ -n "$input" ]]; then
        echo "FAIL: libfuzzer $name: $why ($figures; input saved to $input; reproduce: $bin $input)"
    else
        echo "FAIL: libfuzzer $name: $why ($figures)"
    fi
done
echo "note: long runs: UNIFIED_FUZZ_SECONDS=3600 tests/fuzz/run.sh (docs/fuzzing.md)"
exit "$failed"
