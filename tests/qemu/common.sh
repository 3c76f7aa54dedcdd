# shellcheck shell=bash
# Helpers shared by setup.sh, mkinitrd.sh and run.sh. Sourced, not executed.
# shellcheck disable=SC2034  # variables are used by the sourcing scripts
# Expects the caller to have run `set -euo pipefail`.

QEMU_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$QEMU_DIR/../.." && pwd)"
# Default cache: <repo>/build/qemu. Overridable by the QEMU_CACHE_DIR variable
# or by a command-line argument of the individual scripts.
DEFAULT_CACHE_DIR="${QEMU_CACHE_DIR:-$REPO_ROOT/build/qemu}"

# Host packages this tier needs (Debian 12 names).
QEMU_TIER_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils zstd
                    nvme-cli python3 gcc libc6-dev)

log()  { printf '[qemu-tier] %s\n' "$*" >&2; }
die()  { printf '[qemu-tier] ERROR: %s\n' "$*" >&2; exit 1; }

# Read the kernel modules list (names, one per line, # comments allowed).
read_module_list() {
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$QEMU_DIR/modules.list" | grep -v '^$'
}

# The kernel version recorded by setup.sh in CACHE_DIR.
cached_kver() {
    local cache="$1"
    [[ -s "$cache/kver" ]] || return 1
    cat "$cache/kver"
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
