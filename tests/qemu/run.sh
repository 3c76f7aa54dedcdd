#!/bin/bash
# Boot one of Debian's stock kernels, or a kernel image of our own, in QEMU
# (TCG) with an emulated NVMe controller and run the test programs of
# BIN_DIR inside the guest.
#
# Usage: run.sh [--kernel SERIES | --bzimage PATH] [--pollq N] [--timeout SEC] [--log FILE] [--append ARGS] BIN_DIR
#   --kernel S     kernel series, 6.1 or 6.12 (default: the first of
#                  UNIFIED_QEMU_KERNELS, i.e. 6.1)
#   --bzimage P    boot this kernel image instead (e.g. kernel/build.sh's):
#                  NVMe driver built in, no modules in the initramfs
#   --pollq N      nvme poll_queues in the guest (default 2; with --bzimage
#                  it goes on the kernel command line as nvme.poll_queues=N)
#   --timeout SEC  wall-clock limit for QEMU (default 300)
#   --log FILE     also write the guest console to FILE
#   --append ARGS  extra kernel command-line arguments
# Environment: QEMU_CACHE_DIR (default <repo>/build/qemu), QEMU_EXTRA_ARGS
# (extra QEMU arguments, split on spaces, e.g. "-cpu max").
#
# Exit status: 0 only if QEMU exited with 1 (qexit 0) and the console shows
# TESTS_RC=0; 77 if the kernel package cannot be fetched (nothing booted);
# otherwise 1, with the reason on stderr.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,21p' "$0" >&2; exit 2; }

series=""
bzimage=""
pollq=2
timeout_s=300
logfile=""
append_extra=""
bindir=""
while (($#)); do
    case "$1" in
        --kernel) series="${2:?}"; shift ;;
        --bzimage) bzimage="${2:?}"; shift ;;
        --pollq) pollq="${2:?}"; shift ;;
        --timeout) timeout_s="${2:?}"; shift ;;
        --log) logfile="${2:?}"; shift ;;
        --append) append_extra="${2:?}"; shift ;;
        -h|--help) usage ;;
        -*) log "unknown option $1"; usage ;;
        *) [[ -z "$bindir" ]] || usage; bindir="$1" ;;
    esac
    shift
done
[[ -n "$bindir" ]] || usage
[[ -d "$bindir" ]] || die "BIN_DIR '$bindir' is not a directory"
[[ "$pollq" =~ ^[0-9]+$ ]] || die "--pollq needs a number"
if [[ -n "$bzimage" ]]; then
    [[ -z "$series" ]] || die "--kernel and --bzimage exclude each other"
    [[ -f "$bzimage" ]] || die "--bzimage '$bzimage' is not a file"
else
    if [[ -z "$series" ]]; then load_kernels; series="${KERNELS[0]}"; fi
    check_series "$series"
fi
[[ "$timeout_s" =~ ^[0-9]+$ && "$timeout_s" -gt 0 ]] || die "--timeout needs a positive number"

cache="$DEFAULT_CACHE_DIR"
t_start=$SECONDS

# 1. kernel, modules, packages (a no-op once done)
if [[ -n "$bzimage" ]]; then
    # A kernel of our own: only the host packages; no modules to set up.
    "$QEMU_DIR/setup.sh" --packages-only "$cache" || die "setup.sh --packages-only failed"
    kernel="$(cd "$(dirname "$bzimage")" && pwd)/$(basename "$bzimage")"
    kver="$kernel"
    initrd_args=(--no-modules)
else
    st=0
    "$QEMU_DIR/setup.sh" --kernel "$series" "$cache" || st=$?
    if ((st == EX_KERNEL_UNAVAILABLE)); then
        log "SKIP: kernel $series: its package could not be fetched (see above); nothing booted"
        exit "$EX_KERNEL_UNAVAILABLE"
    fi
    ((st == 0)) || die "setup.sh --kernel $series failed (exit $st)"
    kdir="$(kernel_dir "$cache" "$series")"
    kver="$(cached_kver "$kdir")"
    kernel="$kdir/vmlinux-$kver"
    initrd_args=(--kernel "$series")
fi

# 2. qexit, 3. initramfs, 4. fresh sparse backing files
build_qexit "$cache"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/qemu-run.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$QEMU_DIR/mkinitrd.sh" "${initrd_args[@]}" "$tmp/initrd.cpio.gz" "$bindir" "$cache"
truncate -s 256M "$tmp/ns1.img"
truncate -s 64M "$tmp/ns2.img"
[[ -n "$logfile" ]] || logfile="$tmp/console.log"
mkdir -p "$(dirname "$logfile")"
: >"$logfile"

# The guest gets most of the budget as its own test limit, so that a hung test
# is reported by the guest (TESTS_RC=143) rather than by the host timeout.
if ((timeout_s > 60)); then guest_timeout=$((timeout_s - 30)); else guest_timeout=$((timeout_s / 2)); fi
((guest_timeout > 0)) || guest_timeout=1

append="console=ttyS0 panic=-1 oops=panic loglevel=4 t.pollq=$pollq t.timeout=$guest_timeout"
# A built-in driver takes its parameters from the command line; /init checks
# that the value was accepted (the setter refuses more than the possible CPUs).
[[ -z "$bzimage" ]] || append="$append nvme.poll_queues=$pollq"
[[ -z "$append_extra" ]] || append="$append $append_extra"

# shellcheck disable=SC2206  # deliberate word splitting of QEMU_EXTRA_ARGS
extra=(${QEMU_EXTRA_ARGS:-})
# shellcheck disable=SC2054  # commas belong to QEMU option values
qemu=(qemu-system-x86_64
    -machine q35 -m 1G -smp 2 -nographic -no-reboot -vga none -nic none
    -kernel "$kernel" -initrd "$tmp/initrd.cpio.gz"
    -append "$append"
    -device isa-debug-exit,iobase=0xf4,iosize=0x04
    -drive "file=$tmp/ns1.img,if=none,id=nvm1,format=raw"
    -drive "file=$tmp/ns2.img,if=none,id=nvm2,format=raw"
    -device nvme,id=nvme0,serial=iounified01,mdts=5
    -device nvme-ns,drive=nvm1,bus=nvme0,nsid=1
    -device nvme-ns,drive=nvm2,bus=nvme0,nsid=2,logical_block_size=4096,physical_block_size=4096
    "${extra[@]}")

log "booting $kver (pollq=$pollq, timeout ${timeout_s}s, guest test limit ${guest_timeout}s)"
t_boot_ns=$(date +%s%N)
# stdin from /dev/null: QEMU never reads the terminal (no SIGTTIN under
# `timeout`, and the terminal is never left in raw mode).
set +e
timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | tee -a "$logfile"
st=("${PIPESTATUS[@]}")
set -e
qemu_rc=${st[0]}
boot_ms=$((($(date +%s%N) - t_boot_ns) / 1000000))
printf -v boot_s '%d.%03d' $((boot_ms / 1000)) $((boot_ms % 1000))

# Last TESTS_RC= line printed by /init (the console uses CRLF line ends).
tests_rc="$(tr -d '\r' <"$logfile" | sed -n 's/^TESTS_RC=\([0-9][0-9]*\)$/\1/p' | tail -n1)"
panic=""
if tr -d '\r' <"$logfile" | grep -q 'Kernel panic'; then
    panic=" ($(tr -d '\r' <"$logfile" | grep -m1 -o 'Kernel panic.*'))"
fi

echo >&2
summary="qemu exit $qemu_rc, TESTS_RC=${tests_rc:-none}, boot+test ${boot_s}s, total $((SECONDS - t_start))s"
if ((qemu_rc == 1)) && [[ "$tests_rc" == 0 ]]; then
    log "PASS: $summary"
    exit 0
fi
if ((qemu_rc == 124 || qemu_rc == 137)); then
    reason="timeout: QEMU killed after ${timeout_s}s"
elif ((qemu_rc == 0)); then
    if [[ -n "$tests_rc" ]]; then
        reason="guest powered off after TESTS_RC=$tests_rc without reaching qexit (isa-debug-exit)"
    else
        reason="guest crashed or powered off without a result$panic"
    fi
elif ((qemu_rc == 1)); then
    # exit 1 is also what QEMU returns for its own start-up errors
    reason="QEMU exited 1 but no TESTS_RC=0 in the console: QEMU error or guest failure"
elif ((qemu_rc % 2 == 1 && qemu_rc < 256)); then
    # qexit clamps codes above 127 to 127
    reason="tests failed with rc ${tests_rc:-$((qemu_rc >> 1))} (qemu exit $qemu_rc = (min(rc,127)<<1)|1)"
else
    reason="QEMU failed with exit status $qemu_rc"
fi
log "FAIL: $reason"
log "FAIL: $summary"
exit 1
