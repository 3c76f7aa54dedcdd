#!/bin/bash
# Build the guest kernel for the kernel test tier: Debian's linux-source-6.12
# with the series of kernel/patches/ applied, configured from
# kernel/config/*.config, built out of tree.
#
# Usage: kernel/build.sh [--variant guest|debug] [--check] [-h]
#   --variant V  guest (default): tinyconfig + kernel/config/guest.config;
#                debug: the same + kernel/config/debug.config (KASAN, lockdep, ...)
#   --check      apply the patches one at a time in a scratch tree; after each,
#                build the kernel (guest configuration, incremental) and run
#                scripts/checkpatch.pl --strict on the patch.  Prints PASS/FAIL
#                lines; exit 1 on any failure.
#
# Environment: UNIFIED_KERNEL_CACHE (default <repo>/build/kernel), MAKE_JOBS
# (default: nproc), UNIFIED_KERNEL_PATCHES (another series directory instead
# of kernel/patches, e.g. to try one out).
#
# Outputs, in CACHE/<variant>-<hash>/ (hash: sha256 of kernel/patches/*.patch,
# kernel/config/*.config, this script and the source package's version):
#   bzImage, System.map, config, usr/include (make headers_install),
#   selftest/ (tools/testing/selftests/io_uring, static, if the tree has it),
#   build.log, info.  A complete directory is reused ("cached").
# The last line of stdout is that directory.
#
# Exit status: 0 built or cached (--check: every patch passed); 77 the source
# package cannot be had (not installed and apt-get failed); 1 any other error
# (a patch that does not apply is named).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
SERIES=6.12
SRC_PKG="linux-source-$SERIES"
TARBALL="/usr/src/$SRC_PKG.tar.xz"
EX_UNAVAILABLE=77

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

variant=guest
check=0
while (($#)); do
    case "$1" in
        --variant) variant="${2:-}"; shift ;;
        --variant=*) variant="${1#--variant=}" ;;
        --check) check=1 ;;
        -h|--help) usage 0 ;;
        *) log "unknown argument: $1"; usage 2 ;;
    esac
    shift
done
case "$variant" in
    guest) fragments=("$here/config/guest.config") ;;
    debug) fragments=("$here/config/guest.config" "$here/config/debug.config") ;;
    *) die "unknown variant '$variant' (guest or debug)" ;;
esac

cache="${UNIFIED_KERNEL_CACHE:-$root/build/kernel}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
src="$cache/src"
jobs="${MAKE_JOBS:-$(nproc)}"
t_start=$SECONDS

# One build at a time per cache: the variants share the source tree.  The
# lock file is beside the cache, not in it, so that it outlives an
# rm -rf of the cache while a build holds it.
exec 9>"$(dirname "$cache")/.$(basename "$cache").lock"
if ! flock -n 9; then
    log "waiting for another kernel/build.sh using $cache"
    flock 9
fi

# The series, in order, without the cover letter.
patch_dir="${UNIFIED_KERNEL_PATCHES:-$here/patches}"
if [[ -d "$patch_dir" ]]; then patch_dir="$(cd "$patch_dir" && pwd)"; fi
patches=()
for p in "$patch_dir"/[0-9][0-9][0-9][0-9]-*.patch; do
    [[ -f "$p" ]] || continue
    [[ "$(basename "$p")" == 0000-* ]] && continue
    patches+=("$p")
done

# make in kernel TREE with objects in OBJ.  ARCH=x86_64, not the default
# ARCH=x86: there tinyconfig starts from an i386 configuration, and merging
# CONFIG_64BIT=y afterwards keeps its 32-bit defaults (FRAME_WARN=1024, ...).
kmake() {
    local tree="$1" obj="$2"
    shift 2
    make -C "$tree" O="$obj" ARCH=x86_64 "$@"
}

secs() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# ---- 1. the pristine source ---------------------------------------------------

# Install the source package if its tarball is missing (apt-get update first,
# since something must be installed).  Exit 77 if that fails.
ensure_tarball() {
    [[ -f "$TARBALL" ]] && return 0
    if ((EUID != 0)); then
        log "$TARBALL is missing and installing $SRC_PKG needs root"
        exit "$EX_UNAVAILABLE"
    fi
    log "$TARBALL is missing: apt-get install $SRC_PKG"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends "$SRC_PKG" >/dev/null; then
        log "could not install $SRC_PKG with apt-get (no network, or not in the configured archives)"
        exit "$EX_UNAVAILABLE"
    fi
    [[ -f "$TARBALL" ]] || { log "$SRC_PKG is installed but $TARBALL is not there"; exit "$EX_UNAVAILABLE"; }
}

source_version() {
    local v
    v="$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null || true)"
    if [[ -z "$v" ]]; then v="tarball-$(stat -c '%s-%Y' "$TARBALL")"; fi
    printf '%s\n' "$v"
}

git_src() { git -C "$src" "$@"; }

# CACHE/src: the tarball as commit "pristine", re-extracted when the package
# version changes.  Debian's top-level .gitignore ends with "/*" and
# "!/debian/" (its packaging repository ignores the whole top level): every
# file of the tarball is added with git add -f, and those two lines are
# dropped from the commit, so that files a patch or a developer adds show up
# as in a kernel git tree.  Object trees built from another extraction are
# deleted (their timestamps would not see the change).
ensure_source() {
    local want have tmp t0
    want="$(source_version)"
    have="$(cat "$src/.git/unified-source" 2>/dev/null || true)"
    if [[ "$have" == "$want" ]] && git_src rev-parse -q --verify pristine >/dev/null; then
        return 0
    fi
    t0=$SECONDS
    log "extracting $TARBALL ($SRC_PKG $want) into $src"
    rm -rf "$src" "$src.new" "$cache"/obj-* "$cache/check"
    tmp="$src.new"
    mkdir -p "$tmp"
    tar -xJf "$TARBALL" -C "$tmp" --strip-components=1
    git -C "$tmp" init -q -b pristine-base
    git -C "$tmp" config user.name "io_unified kernel build"
    git -C "$tmp" config user.email "kernel-build@io-unified.invalid"
    git -C "$tmp" config gc.auto 0
    git -C "$tmp" config core.autocrlf false
    sed -i -e '/^\/\*$/d' -e '/^!\/debian\/$/d' "$tmp/.gitignore"
    git -C "$tmp" add -f -A
    git -C "$tmp" commit -q -m "Debian $SRC_PKG ($want), pristine"
    git -C "$tmp" tag pristine
    printf '%s\n' "$want" >"$tmp/.git/unified-source"
    mv "$tmp" "$src"
    log "source ready in $(secs $((SECONDS - t0))): $(git_src ls-files | wc -l) files committed as 'pristine'"
}

# ---- 2. the series --------------------------------------------------------------

patches_sum() {
    local p
    for p in "${patches[@]}"; do printf '%s\n' "$(basename "$p")"; cat "$p"; done | sha256sum | cut -c1-64
}

# git am PATCH in TREE; on failure print which patch and why, abort, return 1.
am_one() {
    local tree="$1" p="$2" out
    if out="$(git -C "$tree" am --3way "$p" 2>&1)"; then
        return 0
    fi
    log "patch $(basename "$p") does not apply (git am):"
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    git -C "$tree" am --abort >/dev/null 2>&1 || true
    return 1
}

# Reset a tree to pristine, leaving the files that do not change untouched
# (their timestamps keep the object trees valid).
reset_tree() {
    local tree="$1"
    git -C "$tree" am --abort >/dev/null 2>&1 || true
    git -C "$tree" checkout -q -f --detach pristine
    git -C "$tree" clean -q -fdx
}

# CACHE/src at branch "patched": pristine + the series.  Not redone if the
# same series is already applied and the tree is clean.
apply_series() {
    local want have p
    want="$(patches_sum)"
    have="$(cat "$src/.git/unified-applied" 2>/dev/null || true)"
    if [[ "$have" == "$want" ]] && [[ -z "$(git_src status --porcelain --untracked-files=no)" ]] &&
        [[ "$(git_src rev-parse --abbrev-ref HEAD)" == patched ]]; then
        log "series already applied (${#patches[@]} patches)"
        return 0
    fi
    rm -f "$src/.git/unified-applied"
    reset_tree "$src"
    git_src checkout -q -B patched pristine
    for p in "${patches[@]}"; do
        am_one "$src" "$p" || die "cannot apply the series: $(basename "$p") does not apply on $SRC_PKG $(source_version)"
    done
    printf '%s\n' "$want" >"$src/.git/unified-applied"
    if ((${#patches[@]})); then
        log "applied ${#patches[@]} patches: $(git_src log --oneline pristine..HEAD | tac | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
    else
        log "no patches in ${patch_dir#"$root"/}: building the pristine kernel"
    fi
}

# ---- 3. configuration -------------------------------------------------------------

# configure TREE OBJ FRAGMENT...: tinyconfig + fragments into OBJ/.config,
# skipped if OBJ/.config was made from the same inputs.  Every fragment line
# must be in the result, except for symbols no Kconfig file of the tree
# defines (CONFIG_IO_URING_UNIFIED before the series): kconfig drops those.
configure() {
    local tree="$1" obj="$2" want line sym f missing=() dropped=()
    shift 2
    # inputs: the fragments and every Kconfig file and config preset of the tree
    want="$( { echo "ARCH=x86_64 tinyconfig, merge_config.sh -m, olddefconfig"; cat "$@"
        git -C "$tree" ls-files -s -- '*Kconfig*' '*/configs/*.config'; } | sha256sum | cut -c1-64)"
    if [[ -f "$obj/.config" && "$(cat "$obj/.unified-config" 2>/dev/null || true)" == "$want" ]]; then
        return 0
    fi
    mkdir -p "$obj"
    rm -f "$obj/.unified-config"
    {
        kmake "$tree" "$obj" tinyconfig
        "$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$@"
        kmake "$tree" "$obj" olddefconfig
    } >"$obj/config.log" 2>&1 || { tail -n 30 "$obj/config.log" >&2; die "configuration failed (log: $obj/config.log)"; }
    for f in "$@"; do
        while IFS= read -r line; do
            if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)= ]]; then
                sym="${BASH_REMATCH[1]}"
            elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
                sym="${BASH_REMATCH[1]}"
                # an unset symbol may also be absent from .config (its menu is off)
                grep -q "^$sym=" "$obj/.config" || continue
            else
                continue
            fi
            grep -qxF -- "$line" "$obj/.config" && continue
            if git -C "$tree" grep -qE "^[[:space:]]*(menu)?config ${sym#CONFIG_}[[:space:]]*$" -- '*Kconfig*'; then
                missing+=("$line (got: $(grep -E "^(# )?${sym}[= ]" "$obj/.config" || echo absent))")
            else
                dropped+=("$sym")
            fi
        done <"$f"
    done
    if ((${#dropped[@]})); then log "not in this tree, dropped by kconfig: ${dropped[*]}"; fi
    if ((${#missing[@]})); then
        printf '[kernel]   %s\n' "${missing[@]}" >&2
        die "the configuration lacks ${#missing[@]} line(s) of $(printf '%s ' "${@##*/}"): an unmet dependency?"
    fi
    printf '%s\n' "$want" >"$obj/.unified-config"
}

# ---- 4. --check -------------------------------------------------------------------

run_check() {
    local wt="$cache/check/src" obj="$cache/check/obj" n=0 p name t0 blog out fails=0 passes=0 warn
    if ((${#patches[@]} == 0)); then
        echo "SKIP: kernel/build.sh --check: no patches in ${patch_dir#"$root"/}"
        return 0
    fi
    git_src worktree prune
    if [[ ! -e "$wt/.git" ]]; then
        log "creating the scratch tree $wt (git worktree of $src)"
        rm -rf "$wt"
        mkdir -p "$cache/check"
        git_src worktree add -q --detach "$wt" pristine
    fi
    reset_tree "$wt"
    configure "$wt" "$obj" "$here/config/guest.config"
    t0=$SECONDS
    blog="$cache/check/build.log"
    log "--check: building the pristine baseline in $obj"
    if ! kmake "$wt" "$obj" -j"$jobs" bzImage >"$blog" 2>&1; then
        tail -n 30 "$blog"
        echo "FAIL: kernel/build.sh --check: the pristine tree does not build (guest configuration)"
        return 1
    fi
    log "--check: baseline built in $(secs $((SECONDS - t0)))"
    for p in "${patches[@]}"; do
        n=$((n + 1))
        name="$(basename "$p")"
        if ! out="$(git -C "$wt" am --3way "$p" 2>&1)"; then
            printf '%s\n' "$out" | sed 's/^/    /'
            git -C "$wt" am --abort >/dev/null 2>&1 || true
            echo "FAIL: patch $n ($name) does not apply; the patches after it were not checked"
            fails=$((fails + 1))
            break
        fi
        t0=$SECONDS
        # The configuration follows Kconfig changes of the patch.
        configure "$wt" "$obj" "$here/config/guest.config"
        if kmake "$wt" "$obj" -j"$jobs" bzImage >"$blog" 2>&1; then
            warn="$(grep -E '(warning|error):' "$blog" || true)"
            if [[ -n "$warn" ]]; then
                printf '%s\n' "$warn" | head -n 40 | sed 's/^/    /'
                echo "FAIL: patch $n builds, but with compiler warnings ($name, $(secs $((SECONDS - t0))))"
                fails=$((fails + 1))
            else
                echo "PASS: patch $n builds ($name, incremental, $(secs $((SECONDS - t0))))"
                passes=$((passes + 1))
            fi
        else
            grep -E '(error|warning):|Error [0-9]+' "$blog" | head -n 40 | sed 's/^/    /'
            tail -n 15 "$blog" | sed 's/^/    /'
            echo "FAIL: patch $n does not build ($name)"
            fails=$((fails + 1))
        fi
        # checkpatch runs scripts/spdxcheck.py with "env python3": the
        # distribution's, which has python3-ply and python3-git (deps.sh).
        if out="$(cd "$wt" && PATH="/usr/bin:$PATH" perl scripts/checkpatch.pl --strict --color=never "$p" 2>&1)"; then
            echo "PASS: patch $n checkpatch --strict clean ($name)"
            passes=$((passes + 1))
        else
            printf '%s\n' "$out" | sed 's/^/    /'
            echo "FAIL: patch $n checkpatch --strict ($name): $(printf '%s\n' "$out" | grep -E '^total:' | tail -n1)"
            fails=$((fails + 1))
        fi
    done
    echo "kernel/build.sh --check: ${#patches[@]} patches, $passes passed, $fails failed, total $(secs $((SECONDS - t_start)))"
    ((fails == 0))
}

# ---- 5. build ---------------------------------------------------------------------

cache_hash() {
    local f
    {
        for f in "$patch_dir"/*.patch "$here"/config/*.config "$here/build.sh"; do
            [[ -f "$f" ]] || continue
            printf '== %s\n' "$(basename "$f")"
            cat "$f"
        done
        printf 'source=%s\n' "$(source_version)"
    } | sha256sum | cut -c1-16
}

# The io_uring selftest of the series, linked statically, into OUTDIR/selftest.
build_selftest() {
    local obj="$1" out="$2" dir="$src/tools/testing/selftests/io_uring" f dyn=()
    if [[ ! -f "$dir/Makefile" ]]; then
        echo "no tools/testing/selftests/io_uring/Makefile in the tree: selftest skipped" >>"$out/build.log"
        return 0
    fi
    log "building the selftest (tools/testing/selftests/io_uring, static)"
    mkdir -p "$out/selftest"
    # LDFLAGS from the environment, so that the Makefile's own += still apply.
    if ! LDFLAGS=-static make -C "$dir" OUTPUT="$out/selftest" KHDR_INCLUDES="-isystem $obj/usr/include" \
        >>"$out/build.log" 2>&1; then
        tail -n 30 "$out/build.log" >&2
        die "the selftest does not build (log: $out/build.log)"
    fi
    for f in "$out"/selftest/*; do
        [[ -f "$f" && -x "$f" ]] || continue
        head -c4 "$f" | grep -q 'ELF' || continue
        if ldd "$f" >/dev/null 2>&1; then dyn+=("$(basename "$f")"); fi
    done
    if ((${#dyn[@]})); then
        # The Makefile set LDFLAGS itself: put -static into the compiler.
        log "selftest programs linked dynamically (${dyn[*]}): rebuilding with CC='gcc -static'"
        for f in "${dyn[@]}"; do rm -f "$out/selftest/$f"; done
        make -C "$dir" OUTPUT="$out/selftest" KHDR_INCLUDES="-isystem $obj/usr/include" \
            CC="${CC:-gcc} -static" >>"$out/build.log" 2>&1 || die "the selftest does not build statically (log: $out/build.log)"
        for f in "${dyn[@]}"; do
            ! ldd "$out/selftest/$f" >/dev/null 2>&1 || die "selftest program $f is still dynamically linked"
        done
    fi
}

build_variant() {
    local hash out obj tmp t0 old
    hash="$(cache_hash)"
    out="$cache/$variant-$hash"
    if [[ -f "$out/.complete" && -s "$out/bzImage" ]]; then
        echo "kernel $variant: cached ($out)"
        printf '%s\n' "$out"
        return 0
    fi
    need_tools
    ensure_source
    apply_series
    obj="$cache/obj-$variant"
    configure "$src" "$obj" "${fragments[@]}"
    tmp="$out.tmp"
    rm -rf "$out" "$tmp"
    mkdir -p "$tmp"
    t0=$SECONDS
    log "building $variant bzImage in $obj (make -j$jobs; log: $tmp/build.log)"
    if ! kmake "$src" "$obj" -j"$jobs" bzImage >"$tmp/build.log" 2>&1; then
        grep -E '(error|Error [0-9]+):' "$tmp/build.log" | head -n 30 >&2 || true
        tail -n 20 "$tmp/build.log" >&2
        die "make bzImage failed for the $variant kernel (log: $tmp/build.log)"
    fi
    log "bzImage built in $(secs $((SECONDS - t0)))"
    kmake "$src" "$obj" headers_install >>"$tmp/build.log" 2>&1 ||
        { tail -n 20 "$tmp/build.log" >&2; die "make headers_install failed (log: $tmp/build.log)"; }
    cp "$obj/arch/x86/boot/bzImage" "$obj/System.map" "$tmp/"
    cp "$obj/.config" "$tmp/config"
    mkdir -p "$tmp/usr"
    cp -a "$obj/usr/include" "$tmp/usr/"
    build_selftest "$obj" "$tmp"
    {
        printf 'variant=%s\nhash=%s\nsource=%s %s\nkernelrelease=%s\n' "$variant" "$hash" "$SRC_PKG" \
            "$(source_version)" "$(kmake "$src" "$obj" -s kernelrelease 2>/dev/null)"
        printf 'head=%s\npatches=%s\nbuild_seconds=%s\n' "$(git_src rev-parse HEAD)" "${#patches[@]}" $((SECONDS - t0))
    } >"$tmp/info"
    mv "$tmp" "$out"
    touch "$out/.complete"
    # Disk stays bounded: one result per variant.
    for old in "$cache/$variant"-*; do
        [[ "$old" == "$out" || ! -d "$old" ]] && continue
        rm -rf "$old"
    done
    echo "kernel $variant: built in $(secs $((SECONDS - t_start))) ($out)"
    printf '%s\n' "$out"
}

# The build's own tools: checked before building, not for a cached result.
need_tools() {
    local tool
    for tool in git flex bison bc gcc make perl rsync; do
        command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs the kernel build dependencies)"
    done
    [[ -e /usr/include/libelf.h ]] || die "libelf.h not found (apt-get install libelf-dev; scripts/deps.sh)"
    [[ -e /usr/include/openssl/ssl.h ]] || die "openssl headers not found (apt-get install libssl-dev; scripts/deps.sh)"
}

ensure_tarball
if ((check)); then
    if ((${#patches[@]})); then
        need_tools
        ensure_source
    fi
    run_check
else
    build_variant
fi
