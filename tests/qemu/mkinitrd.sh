#!/bin/bash
# Build the guest initramfs (gzip-compressed newc cpio).
#
# Usage: mkinitrd.sh [--kernel SERIES | --no-modules] OUT_CPIO_GZ BIN_DIR [CACHE_DIR]
#   SERIES: the kernel series whose modules go in (default: the first of
#   UNIFIED_QEMU_KERNELS, i.e. 6.1); --no-modules: none, for a kernel with
#   the NVMe driver built in (run.sh --bzimage)
#
# Contents: static busybox (+ applet links), /init, /bin/qexit, the NVMe kernel
# modules of modules.list with their dependencies (from CACHE_DIR/linux-SERIES/kroot,
# made by setup.sh), nvme-cli with its shared libraries and loader, every executable
# file at the top level of BIN_DIR in /bin/t/, and BIN_DIR/guest-tests.sh as
# /guest-tests.sh if present.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

series=""
modules=1
if [[ "${1:-}" == --kernel ]]; then
    check_series "${2:-}"
    series="$2"
    shift 2
elif [[ "${1:-}" == --no-modules ]]; then
    modules=0
    shift
fi
(($# >= 2 && $# <= 3)) || die "usage: $0 [--kernel SERIES | --no-modules] OUT_CPIO_GZ BIN_DIR [CACHE_DIR]"
out="$1"
bindir="$2"
cache="${3:-$DEFAULT_CACHE_DIR}"
[[ -d "$bindir" ]] || die "BIN_DIR '$bindir' is not a directory"
if ((modules)); then
    if [[ -z "$series" ]]; then load_kernels; series="${KERNELS[0]}"; fi
    kdir="$(kernel_dir "$cache" "$series")"
    kver="$(cached_kver "$kdir")" || die "no $series kernel in '$kdir': run tests/qemu/setup.sh --kernel $series first"
    kroot="$kdir/kroot"
    moddir="$kroot/lib/modules/$kver"
    [[ -f "$moddir/modules.dep" ]] || die "no modules.dep in $moddir: run tests/qemu/setup.sh"
else
    kver="(built-in drivers)"
fi

build_qexit "$cache"

stage="$(mktemp -d "${TMPDIR:-/tmp}/qemu-initrd.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin/t,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
((modules == 0)) || mkdir -p "$stage/lib/modules/$kver"

is_dynamic_elf() { ldd "$1" >/dev/null 2>&1; }

# Copy FILE to DEST (a path inside the guest) and, if it is a dynamic ELF,
# its shared libraries and loader, each at the same path as on the host.
copy_with_libs() {
    local file="$1" dest="$2" lib
    mkdir -p "$(dirname "$stage$dest")"
    cp -L "$file" "$stage$dest"
    is_dynamic_elf "$file" || return 0
    while read -r lib; do
        if [[ ! -e "$stage$lib" ]]; then
            mkdir -p "$(dirname "$stage$lib")"
            cp -L "$lib" "$stage$lib"
        fi
    done < <(ldd "$file" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
}

# busybox (must be the static one: the guest has no libc of its own)
bb="$(command -v busybox)" || die "busybox not found (apt-get install busybox-static)"
is_dynamic_elf "$bb" && die "$bb is dynamically linked; install busybox-static"
cp "$bb" "$stage/bin/busybox"
for applet in $("$bb" --list); do
    [[ -e "$stage/bin/$applet" ]] || ln -s busybox "$stage/bin/$applet"
done

install -m 0755 "$QEMU_DIR/init" "$stage/init"
install -m 0755 "$cache/qexit" "$stage/bin/qexit"

# kernel modules and their dependencies
nmods=0
if ((modules)); then
    while read -r m need; do
        if ! deps="$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null)"; then
            # setup.sh found no such module in this kernel; fine if optional
            [[ "$need" == optional ]] && continue
            die "module $m not in $moddir (modules.list changed? rerun setup.sh)"
        fi
        while read -r kind path _; do
            [[ "$kind" == insmod ]] || continue
            rel="${path#"$moddir"/}"
            if [[ ! -f "$stage/lib/modules/$kver/$rel" ]]; then
                mkdir -p "$(dirname "$stage/lib/modules/$kver/$rel")"
                cp "$path" "$stage/lib/modules/$kver/$rel"
                nmods=$((nmods + 1))
            fi
        done <<<"$deps"
    done < <(read_module_list)
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        if [[ -f "$moddir/$f" ]]; then cp "$moddir/$f" "$stage/lib/modules/$kver/"; fi
    done
    depmod -b "$stage" "$kver"
fi

# nvme-cli, dynamically linked: bring its libraries and the loader
nvme_bin="$(command -v nvme)" || die "nvme not found (apt-get install nvme-cli)"
copy_with_libs "$nvme_bin" /usr/sbin/nvme

# test programs
ntests=0
for f in "$bindir"/*; do
    [[ -f "$f" && -x "$f" ]] || continue
    [[ "$(basename "$f")" == guest-tests.sh ]] && continue
    if is_dynamic_elf "$f"; then
        log "warning: $(basename "$f") is dynamically linked; copying its host libraries too"
    fi
    copy_with_libs "$f" "/bin/t/$(basename "$f")"
    ntests=$((ntests + 1))
done
has_script=no
if [[ -f "$bindir/guest-tests.sh" ]]; then
    install -m 0755 "$bindir/guest-tests.sh" "$stage/guest-tests.sh"
    has_script=yes
fi

# The kernel opens /dev/console before /init runs; give it a node (needs root).
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -1 -n >"$out.tmp"
mv -f "$out.tmp" "$out"
log "initramfs $out: $(du -h "$out" | cut -f1), kernel $kver, $nmods modules," \
    "$ntests test programs, guest-tests.sh: $has_script"
