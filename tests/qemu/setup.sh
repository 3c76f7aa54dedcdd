#!/bin/bash
# Prepare the QEMU test tier: host packages and, per kernel series, Debian's
# stock kernel (unpacked for PVH boot) with the few modules the guest needs.
#
# Usage: setup.sh [--refresh] [--kernel SERIES]... [--packages-only] [CACHE_DIR]
#   CACHE_DIR      default <repo>/build/qemu; series S goes to CACHE_DIR/linux-S
#   --kernel S     set up series S (6.1, 6.12); default: every series of
#                  UNIFIED_QEMU_KERNELS (default "6.1 6.12")
#   --refresh      re-resolve the packages (a newer point release) and rebuild
#   --packages-only  only the host packages, no kernel (run.sh --bzimage)
# The package of series S is what linux-image-S-amd64 (6.12) or else
# linux-image-amd64 (6.1) depends on. QEMU_KERNEL_PKG="linux-image-6.1.0-NN-amd64
# ..." pins packages (each applies to the series its name starts with).
# Idempotent: a series whose stamp is valid is not touched.
# Exit status: 0 ready; 77 a kernel package could not be resolved or downloaded
# (no network?), the other series are still set up; 1 any other error.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

refresh=0
packages_only=0
cache=""
series=()
while (($#)); do
    case "$1" in
        --refresh) refresh=1 ;;
        --packages-only) packages_only=1 ;;
        --kernel) check_series "${2:-}"; series+=("$2"); shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) die "unknown option: $1" ;;
        *) [[ -z "$cache" ]] || die "too many arguments"; cache="$1" ;;
    esac
    shift
done
cache="${cache:-$DEFAULT_CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
if ((${#series[@]} == 0)); then load_kernels; series=("${KERNELS[@]}"); fi

apt_updated=0
apt_update_once() {
    if ((apt_updated == 0)); then
        log "apt-get update"
        # Without network this fails; what is cached may still do.
        apt-get update -qq || log "warning: apt-get update failed"
        apt_updated=1
    fi
}

# ---- 1. host packages ------------------------------------------------------
missing=()
for p in "${QEMU_TIER_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    ((EUID == 0)) || die "missing packages (${missing[*]}); run as root to install them"
    apt_update_once
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "host packages present: ${QEMU_TIER_PACKAGES[*]}"
fi

((packages_only == 0)) || exit 0

# ---- 2. the old single-kernel layout (CACHE_DIR/kroot, vmlinux-*) ------------
if [[ -f "$cache/setup.stamp" ]]; then
    log "removing the old single-kernel cache layout from $cache"
    rm -rf "$cache/setup.stamp" "$cache/kver" "$cache/kroot" "$cache"/vmlinux-*
fi
mods_sum="$(read_module_list | sha256sum | cut -d' ' -f1)"

# The package pinned for series $1 by QEMU_KERNEL_PKG, if any.
pinned_pkg() {
    local p
    for p in ${QEMU_KERNEL_PKG:-}; do
        if [[ "$p" == "linux-image-$1."* ]]; then echo "$p"; return 0; fi
    done
    return 0
}

# The versioned generic (not -rt, not -cloud) package of series $1 that a
# meta-package points to: linux-image-6.12-amd64 for 6.12, linux-image-amd64
# for bookworm's default 6.1.
resolve_pkg() {
    local s="$1" meta
    for meta in "linux-image-$s-amd64" linux-image-amd64; do
        apt-cache depends "$meta" 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' |
            grep -F "linux-image-$s." | grep -vE -- '-(rt|cloud)-amd64$' | head -n1 | grep . && return 0
    done
    return 0
}

# Say why series $1 cannot be had; setup_series then returns 77.
unavailable() { log "kernel $1 unavailable: ${*:2}"; }

# Set up one series into CACHE_DIR/linux-SERIES; runs in a subshell.
setup_series() (
    s="$1"
    kdir="$(kernel_dir "$cache" "$s")"
    stamp="$kdir/setup.stamp"
    pin="$(pinned_pkg "$s")"

    # ---- 3. is this series' cache already valid? ---------------------------
    if ((refresh == 0)) && [[ -f "$stamp" ]] && kver="$(cached_kver "$kdir")" &&
        grep -qx "modules=$mods_sum" "$stamp" &&
        { [[ -z "$pin" ]] || grep -qx "pkg=$pin" "$stamp"; } &&
        [[ -s "$kdir/vmlinux-$kver" && -s "$kdir/kroot/lib/modules/$kver/modules.dep" ]]; then
        log "kernel $s: cache up to date in $kdir: $(grep '^pkg=' "$stamp" | cut -d= -f2-) (nothing to do)"
        return 0
    fi

    # ---- 4. which kernel package? -------------------------------------------
    pkg="$pin"
    if [[ -z "$pkg" ]]; then
        ((refresh == 0)) || apt_update_once
        pkg="$(resolve_pkg "$s")"
        if [[ -z "$pkg" ]]; then
            apt_update_once
            pkg="$(resolve_pkg "$s")"
        fi
        [[ -n "$pkg" ]] || { unavailable "$s" "no linux-image-$s.*-amd64 package found through" \
            "linux-image-$s-amd64 or linux-image-amd64 (apt-get update failed or no network?)"
            return "$EX_KERNEL_UNAVAILABLE"; }
    fi
    log "kernel $s: package $pkg"

    # ---- 5. download and extract into a scratch dir -------------------------
    t0=$SECONDS
    mkdir -p "$cache"
    work="$(mktemp -d "$cache/.work.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    if ! (cd "$work" && apt-get download -qq "$pkg" 2>/dev/null); then
        apt_update_once
        if ! (cd "$work" && apt-get download -qq "$pkg"); then
            unavailable "$s" "apt-get download $pkg failed (no network, or the package is gone)"
            return "$EX_KERNEL_UNAVAILABLE"
        fi
    fi
    deb="$(ls "$work"/*.deb)"
    log "downloaded $(basename "$deb") ($(du -h "$deb" | cut -f1)) in $((SECONDS - t0)) s"
    t1=$SECONDS
    dpkg-deb -x "$deb" "$work/root"
    rm -f "$deb"
    moddir="$(find "$work/root" -mindepth 3 -maxdepth 4 -type d -path '*/lib/modules/*' | head -n1)"
    [[ -n "$moddir" ]] || die "no lib/modules/<kver> directory in $pkg"
    kver="$(basename "$moddir")"
    full_root="${moddir%/lib/modules/*}"
    vmlinuz="$work/root/boot/vmlinuz-$kver"
    [[ -f "$vmlinuz" ]] || die "no boot/vmlinuz-$kver in $pkg"
    log "extracted kernel $kver in $((SECONDS - t1)) s"
    # The .deb ships no modules.dep (the postinst creates it).
    depmod -b "$full_root" "$kver"

    # ---- 6. keep only the modules we need (the full tree is 100-400 MB) -----
    # Modules are copied uncompressed: 6.12 ships .ko.xz, which busybox's
    # modprobe in the guest does not read.
    slim="$work/kroot"
    mkdir -p "$slim/lib/modules/$kver" "$slim/boot"
    cp "$work/root/boot/config-$kver" "$slim/boot/" 2>/dev/null || true
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        if [[ -f "$moddir/$f" ]]; then cp "$moddir/$f" "$slim/lib/modules/$kver/"; fi
    done
    nmods=0
    builtin=()
    absent=()
    while read -r m need; do
        if ! deps="$(modprobe -d "$full_root" -S "$kver" --show-depends "$m" 2>/dev/null)"; then
            [[ "$need" == optional ]] || die "module $m not found in $pkg"
            absent+=("$m")
            continue
        fi
        if [[ "$deps" == builtin* ]]; then
            [[ "$need" == optional ]] || die "module $m is built into $kver; the guest's init loads it with modprobe"
            builtin+=("$m")
            continue
        fi
        while read -r kind path _; do
            [[ "$kind" == insmod ]] || continue
            rel="${path#"$moddir"/}"
            rel="${rel#./}"
            case "$rel" in
            *.ko.xz) dst="${rel%.xz}"; unpack=(xz -dc) ;;
            *.ko.zst) dst="${rel%.zst}"; unpack=(zstd -dcq) ;;
            *.ko.gz) dst="${rel%.gz}"; unpack=(gzip -dc) ;;
            *) dst="$rel"; unpack=(cat) ;;
            esac
            if [[ ! -f "$slim/lib/modules/$kver/$dst" ]]; then
                mkdir -p "$(dirname "$slim/lib/modules/$kver/$dst")"
                "${unpack[@]}" "$path" >"$slim/lib/modules/$kver/$dst"
                nmods=$((nmods + 1))
            fi
        done <<<"$deps"
    done < <(read_module_list)
    # modules.order names the compressed files on kernels that compress.
    if [[ -f "$slim/lib/modules/$kver/modules.order" ]]; then
        sed -i -E 's/\.ko\.(xz|zst|gz)$/.ko/' "$slim/lib/modules/$kver/modules.order"
    fi
    depmod -b "$slim" "$kver"
    log "kept $nmods modules ($(du -sh "$slim" | cut -f1))${builtin[*]:+; built in: ${builtin[*]}}${absent[*]:+; not in this kernel (optional): ${absent[*]}}"

    # ---- 7. unpack vmlinuz -> vmlinux for the PVH entry point -------------------
    t2=$SECONDS
    python3 - "$vmlinuz" "$work/vmlinux" <<'PY'
import lzma, struct, subprocess, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
d = open(src, 'rb').read()
if d[0x202:0x206] != b'HdrS':
    sys.exit('not an x86 bzImage: ' + src)
setup_sects = d[0x1f1] or 4
pm = (setup_sects + 1) * 512                     # start of the protected-mode code
off, length = struct.unpack_from('<II', d, 0x248)  # payload_offset, payload_length
payload = d[pm + off: pm + off + length]
if payload.startswith(b'\xfd7zXZ\x00'):
    out = lzma.LZMADecompressor().decompress(payload)
elif payload.startswith(b'\x1f\x8b'):
    out = zlib.decompressobj(31).decompress(payload)
elif payload.startswith(b'\x28\xb5\x2f\xfd'):
    # the kernel appends the 4-byte uncompressed size after the zstd frame
    out = subprocess.run(['zstd', '-dcq'], input=payload[:-4], check=True,
                         stdout=subprocess.PIPE).stdout
else:
    sys.exit('unsupported kernel compression, magic %s' % payload[:6].hex())
if out[:4] != b'\x7fELF' or out[4] != 2:
    sys.exit('decompressed payload is not an ELF64 vmlinux')
# Look for the Xen PVH entry note (name "Xen", type 18 = XEN_ELFNOTE_PHYS32_ENTRY).
phoff, = struct.unpack_from('<Q', out, 0x20)
phentsize, phnum = struct.unpack_from('<HH', out, 0x36)
pvh = False
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz = struct.unpack_from('<IIQQQQ', out, phoff + i * phentsize)
    if p_type != 4:                              # PT_NOTE
        continue
    pos, end = p_offset, p_offset + p_filesz
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from('<III', out, pos)
        name = out[pos + 12: pos + 12 + namesz].rstrip(b'\0')
        if name == b'Xen' and ntype == 18:
            pvh = True
        pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
if not pvh:
    sys.exit('vmlinux has no PVH entry note (CONFIG_PVH off?): cannot boot it with -kernel')
open(dst, 'wb').write(out)
PY
    log "unpacked vmlinuz to vmlinux ($(du -h "$work/vmlinux" | cut -f1), PVH note present) in $((SECONDS - t2)) s"

    # ---- 8. install into the cache ------------------------------------------
    old_kver="$(cached_kver "$kdir" || true)"
    mkdir -p "$kdir"
    rm -f "$stamp"
    rm -rf "$kdir/kroot"
    if [[ -n "$old_kver" && "$old_kver" != "$kver" ]]; then rm -f "$kdir/vmlinux-$old_kver"; fi
    mv "$slim" "$kdir/kroot"
    mv "$work/vmlinux" "$kdir/vmlinux-$kver"
    echo "$kver" >"$kdir/kver"
    printf 'series=%s\npkg=%s\nkver=%s\nmodules=%s\n' "$s" "$pkg" "$kver" "$mods_sum" >"$stamp"
    rm -rf "$work"
    trap - EXIT
    log "kernel $s: done in $((SECONDS - t0)) s: $kver in $kdir ($(du -sh "$kdir" | cut -f1))"
)

rc=0
for s in "${series[@]}"; do
    st=0
    setup_series "$s" || st=$?
    if ((st == EX_KERNEL_UNAVAILABLE)); then
        rc=$EX_KERNEL_UNAVAILABLE
    elif ((st != 0)); then
        exit "$st"
    fi
done
exit "$rc"
