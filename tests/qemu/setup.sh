#!/bin/bash
# Prepare the QEMU test tier: host packages, Debian's stock 6.1 kernel
# (unpacked for PVH boot) and the few kernel modules the guest needs.
#
# Usage: setup.sh [--refresh] [CACHE_DIR]        (default CACHE_DIR: <repo>/build/qemu)
#
# Idempotent: once CACHE_DIR/setup.stamp is valid, only the package check runs.
# --refresh re-resolves the kernel package that linux-image-amd64 depends on and
# rebuilds the cache. QEMU_KERNEL_PKG=linux-image-6.1.0-NN-amd64 pins a package.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

refresh=0
cache=""
while (($#)); do
    case "$1" in
        --refresh) refresh=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        -*) die "unknown option: $1" ;;
        *) [[ -z "$cache" ]] || die "too many arguments"; cache="$1" ;;
    esac
    shift
done
cache="${cache:-$DEFAULT_CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

apt_updated=0
apt_update_once() {
    if ((apt_updated == 0)); then
        log "apt-get update"
        apt-get update -qq
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

# ---- 2. is the kernel cache already valid? ----------------------------------
mods_sum="$(read_module_list | sha256sum | cut -d' ' -f1)"
stamp="$cache/setup.stamp"
stamp_ok() {
    [[ -f "$stamp" ]] || return 1
    local kver
    kver="$(cached_kver "$cache")" || return 1
    grep -qx "modules=$mods_sum" "$stamp" &&
        [[ -s "$cache/vmlinux-$kver" && -s "$cache/kroot/lib/modules/$kver/modules.dep" ]]
}
if ((refresh == 0)) && stamp_ok; then
    log "kernel cache up to date in $cache: $(grep '^pkg=' "$stamp" | cut -d= -f2-) (nothing to do)"
    exit 0
fi

# ---- 3. which kernel package? -----------------------------------------------
resolve_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n1
}
pkg="${QEMU_KERNEL_PKG:-}"
if [[ -z "$pkg" ]]; then
    pkg="$(resolve_pkg)"
    if [[ -z "$pkg" ]]; then
        apt_update_once
        pkg="$(resolve_pkg)"
    fi
    [[ -n "$pkg" ]] || die "could not find the linux-image-6.1.*-amd64 package that linux-image-amd64 depends on"
fi
log "kernel package: $pkg"

# ---- 4. download and extract into a scratch dir ----------------------------
t0=$SECONDS
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    if ! apt-get download -qq "$pkg" 2>/dev/null; then
        apt_update_once
        apt-get download -qq "$pkg"
    fi
)
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

# ---- 5. keep only the modules we need (the full tree is ~400 MB) -----------
slim="$work/kroot"
mkdir -p "$slim/lib/modules/$kver" "$slim/boot"
cp "$work/root/boot/config-$kver" "$slim/boot/" 2>/dev/null || true
for f in modules.order modules.builtin modules.builtin.modinfo; do
    if [[ -f "$moddir/$f" ]]; then cp "$moddir/$f" "$slim/lib/modules/$kver/"; fi
done
nmods=0
while read -r m; do
    deps="$(modprobe -d "$full_root" -S "$kver" --show-depends "$m")" ||
        die "module $m not found in $pkg"
    while read -r kind path _; do
        [[ "$kind" == insmod ]] || continue
        rel="${path#"$moddir"/}"
        if [[ ! -f "$slim/lib/modules/$kver/$rel" ]]; then
            mkdir -p "$(dirname "$slim/lib/modules/$kver/$rel")"
            cp "$path" "$slim/lib/modules/$kver/$rel"
            nmods=$((nmods + 1))
        fi
    done <<<"$deps"
done < <(read_module_list)
depmod -b "$slim" "$kver"
log "kept $nmods modules ($(du -sh "$slim" | cut -f1))"

# ---- 6. unpack vmlinuz -> vmlinux for the PVH entry point -------------------
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

# ---- 7. install into the cache -------------------------------------------
old_kver="$(cached_kver "$cache" || true)"
rm -f "$stamp"
rm -rf "$cache/kroot"
if [[ -n "$old_kver" && "$old_kver" != "$kver" ]]; then rm -f "$cache/vmlinux-$old_kver"; fi
mv "$slim" "$cache/kroot"
mv "$work/vmlinux" "$cache/vmlinux-$kver"
echo "$kver" >"$cache/kver"
printf 'pkg=%s\nkver=%s\nmodules=%s\n' "$pkg" "$kver" "$mods_sum" >"$stamp"
rm -rf "$work"
trap - EXIT
log "done in $((SECONDS - t0)) s: kernel $kver, cache $cache ($(du -sh "$cache" | cut -f1))"
