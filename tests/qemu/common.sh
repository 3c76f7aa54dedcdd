# shellcheck shell=bash
# Helpers shared by setup.sh, mkinitrd.sh and run.sh. Sourced, not executed.
# shellcheck disable=SC2034  # variables are used by the sourcing scripts
# Expects the caller to have run `set -euo pipefail`.

QEMU_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$QEMU_DIR/../.." && pwd)"
# Default cache: <repo>/build/qemu. Overridable by the QEMU_CACHE_DIR variable
# or by a command-line argument of the individual scripts.
DEFAULT_CACHE_DIR="${QEMU_CACHE_DIR:-$REPO_ROOT/build/qemu}"

# Kernel series the tier boots, in order: Debian 12's stock 6.1 and the 6.12
# of bookworm's registry. UNIFIED_QEMU_KERNELS="6.1" (space-separated) narrows
# or reorders the list.
QEMU_KERNELS_DEFAULT="6.1 6.12"
# setup.sh and run.sh exit with this status when a kernel package cannot be
# resolved or downloaded (no network, package gone): callers report a SKIP.
EX_KERNEL_UNAVAILABLE=77

# Host packages this tier needs (Debian 12 names).
QEMU_TIER_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils zstd
                    nvme-cli python3 gcc libc6-dev)

log()  { printf '[qemu-tier] %s\n' "$*" >&2; }
die()  { printf '[qemu-tier] ERROR: %s\n' "$*" >&2; exit 1; }

# The kernel series to run, validated, into the array KERNELS (e.g. 6.1 6.12).
# Run it in the calling shell (not in $(...)), so that a bad value stops it.
load_kernels() {
    local k
    KERNELS=()
    for k in ${UNIFIED_QEMU_KERNELS:-$QEMU_KERNELS_DEFAULT}; do
        check_series "$k"
        KERNELS+=("$k")
    done
    ((${#KERNELS[@]})) || die "UNIFIED_QEMU_KERNELS names no kernel"
}

# Validate one series given on a command line.
check_series() {
    [[ "$1" =~ ^[0-9]+\.[0-9]+$ ]] || die "bad kernel series '$1' (want e.g. 6.1 or 6.12; UNIFIED_QEMU_KERNELS='${UNIFIED_QEMU_KERNELS:-}')"
}

# Where setup.sh keeps one kernel series: CACHE_DIR/linux-SERIES.
kernel_dir() { printf '%s/linux-%s\n' "$1" "$2"; }

# Read the kernel modules list: "NAME" (required) or "NAME ?" (optional: a
# helper that some kernels build in or no longer have), one per line,
# # comments allowed. Prints "NAME required|optional".
read_module_list() {
    sed -e 's/#.*//' "$QEMU_DIR/modules.list" |
        awk 'NF { print $1, ($2 == "?" ? "optional" : "required") }'
}

# The kernel version recorded by setup.sh in a kernel dir (see kernel_dir).
cached_kver() {
    local kdir="$1"
    [[ -s "$kdir/kver" ]] || return 1
    cat "$kdir/kver"
}

# Build the static qexit helper into CACHE_DIR/qexit if missing or stale.
build_qexit() {
    local cache="$1" out="$1/qexit" src="$QEMU_DIR/qexit.c"
    mkdir -p "$cache"
    if [[ ! -x "$out" || "$src" -nt "$out" ]]; then
        log "building qexit (gcc -O2 -static)"
        gcc -O2 -Wall -Wextra -static -o "$out.tmp" "$src"
        mv -f "$out.tmp" "$out"
    fi
}
