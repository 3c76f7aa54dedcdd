#!/bin/bash
# The kernel tier: the kernel series of kernel/patches/ on Debian's
# linux-source-6.12 (kernel/build.sh), booted in QEMU with the emulated NVMe
# controller of the qemu tier (two namespaces, 512 B and 4 KiB LBAs, mdts=5,
# nvme.poll_queues=2 on the command line: the driver is built in).
#
#   tests/kernel/run.sh                    the tier (tests/run.sh --tier kernel)
#   tests/kernel/run.sh --scan-log LOG [TAG]   only the kernel-log scan of a
#                                          console log (what each boot gets)
#
# Steps, each with PASS:/FAIL:/SKIP: lines like every tier:
#   0. the kernel-log scan checks itself on two fabricated logs
#   a. kernel/build.sh --variant guest and --variant debug (cached by the
#      hash of the series, the fragments and build.sh); SKIP if the source
#      package cannot be had
#   b. the static guest programs (make BUILD=build-guest STATIC_EXE=1 NO_XDP=1):
#      nvme_target, unified-bench, and tests/kernel/hostile if hostile.c exists
#      (compiled against the series' UAPI headers)
#   c. boots the guest kernel and runs tests/kernel/guest-tests.sh in the guest
#      (if absent: the selftest and nvme_target); lines tagged [kernel]
#   d. boots the debug kernel (KASAN, lockdep, KFENCE, ...) and runs the
#      same script there; lines tagged [kernel-debug]
#   e. after each boot, scans the guest's kernel log (the console, and the
#      whole dmesg that /init prints at the end with t.dmesg=1): one
#      "FAIL: [TAG] kernel log: LINE" per report line, else
#      "PASS: [TAG] kernel log clean"
#   f. kernel/build.sh --check (each patch builds, checkpatch --strict);
#      lines tagged [kernel-check]
#
# In the guest, /bin/t holds the programs, the selftest programs under their
# own names, and /bin/t/run-selftests, which runs them all (or those named)
# and turns their TAP output ("ok N name", "not ok N name", "# SKIP") into
# PASS:/FAIL:/SKIP: lines.
#
# Environment:
#   UNIFIED_KERNEL_CACHE       kernel/build.sh's cache (default <repo>/build/kernel);
#                              the last console logs are kept in its logs/
#   KERNEL_QEMU_TIMEOUT        limit of the guest kernel's boot (default 600 s)
#   KERNEL_DEBUG_QEMU_TIMEOUT  limit of the debug kernel's boot (default 1800 s)
#   UNIFIED_KERNEL_CHECK=0     leave out step f
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# ---- the kernel-log scan -----------------------------------------------------

# Report lines of the kernel: splats, sanitizer and lockdep reports, oopses,
# hung tasks.  Matched against kernel lines only (those with a printk
# timestamp), so test programs printing these words do not count.
KLOG_BAD='BUG:|WARNING:|KASAN|UBSAN|possible circular locking|possible recursive locking|lockdep|inconsistent lock state|sleeping function called from invalid context|Oops|general protection fault|Call Trace|INFO: task .* blocked|[Kk][Ff][Ee][Nn][Cc][Ee]'
# Lines that match but report nothing: the start-up lines of KFENCE and of
# RCU's lockdep checks.
KLOG_BENIGN='kfence: initialized|RCU lockdep checking is enabled'
KLOG_MAX_LINES=20

# scan_klog LOG TAG: print the verdict on the kernel log in console log LOG.
# Returns 1 if it printed a FAIL line.
scan_klog() {
    local log="$1" tag="$2" lines hits n complete=0
    # Kernel lines, also where one was printed in the middle of a test's
    # output line; each once (the console and the final dmesg repeat them).
    lines="$(tr -d '\r' <"$log" | grep -aoE '\[ *[0-9]+\.[0-9]+\] .*' | awk '!seen[$0]++' || true)"
    if tr -d '\r' <"$log" | grep -q '^=== guest kernel log end'; then complete=1; fi
    hits="$(printf '%s\n' "$lines" | grep -aE "$KLOG_BAD" | grep -avE "$KLOG_BENIGN" || true)"
    if [[ -n "$hits" ]]; then
        n="$(printf '%s\n' "$hits" | wc -l)"
        printf '%s\n' "$hits" | head -n "$KLOG_MAX_LINES" | sed "s/^/FAIL: [$tag] kernel log: /"
        if ((n > KLOG_MAX_LINES)); then
            echo "FAIL: [$tag] kernel log: ... and $((n - KLOG_MAX_LINES)) more report lines (log: $log)"
        fi
        return 1
    fi
    n=0
    [[ -z "$lines" ]] || n="$(printf '%s\n' "$lines" | wc -l)"
    if ((complete)); then
        echo "PASS: [$tag] kernel log clean ($n lines)"
    else
        echo "SKIP: [$tag] kernel log: the guest did not print its whole log (the boot failed); nothing in the $n kernel lines of the console"
    fi
    return 0
}

if [[ "${1:-}" == --scan-log ]]; then
    [[ -f "${2:-}" ]] || { echo "usage: $0 --scan-log CONSOLE_LOG [TAG]" >&2; exit 2; }
    scan_klog "$2" "${3:-kernel}"
    exit
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kernel-tier.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cache="${UNIFIED_KERNEL_CACHE:-$root/build/kernel}"
logdir="$cache/logs"
mkdir -p "$logdir"
rc=0
t_start=$SECONDS
# TCG's default CPU model lacks SSE4.2 (unified-ingest's CRC32C) and more;
# the guests get every feature TCG emulates, as in the qemu tier.
export QEMU_EXTRA_ARGS="${QEMU_EXTRA_ARGS:--cpu max}"

# ---- 0. the scan on fabricated logs ------------------------------------------

scan_selfcheck() {
    local bad="$tmp/fab-warn.log" good="$tmp/fab-clean.log" out
    cat >"$bad" <<'EOF'
[    0.512000] kfence: initialized - using 2097152 bytes for 255 objects at 0x(____ptrval____)-0x(____ptrval____)
PASS: a test line that says WARNING: but is not the kernel's
[   12.345678] ------------[ cut here ]------------
[   12.345680] WARNING: CPU: 1 PID: 77 at io_uring/io_uring.c:1234 io_fabricated+0x12/0x30
[   12.345690] Call Trace:
=== guest kernel log begin
[   12.345680] WARNING: CPU: 1 PID: 77 at io_uring/io_uring.c:1234 io_fabricated+0x12/0x30
=== guest kernel log end
EOF
    cat >"$good" <<'EOF'
[    0.000000] Linux version 6.12.0 (fabricated)
[    0.100000] ... MAX_LOCKDEP_ENTRIES:     32768
[    0.512000] kfence: initialized - using 2097152 bytes for 255 objects at 0x(____ptrval____)-0x(____ptrval____)
[    0.000000] rcu: 	RCU lockdep checking is enabled.
FAIL: a test program's own line mentioning BUG: and Oops (not the kernel's)
=== guest kernel log begin
[    1.117480] nvme nvme0: 2/0/2 default/read/poll queues
=== guest kernel log end
EOF
    out="$(scan_klog "$bad" fabricated || true)"
    if [[ "$(grep -c '^FAIL: \[fabricated\] kernel log: ' <<<"$out")" == 2 ]] &&
        grep -q '^FAIL: .*WARNING: CPU: 1 PID: 77' <<<"$out" && grep -q '^FAIL: .*Call Trace:' <<<"$out" &&
        [[ "$(scan_klog "$good" fabricated)" == "PASS: [fabricated] kernel log clean (5 lines)" ]]; then
        echo "PASS: [kernel] kernel-log scan: a fabricated WARNING splat gives FAIL lines (once each), a clean log PASS"
    else
        printf '%s\n' "$out" | sed 's/^/    /'
        echo "FAIL: [kernel] kernel-log scan: wrong verdict on the fabricated logs (above)"
        rc=1
    fi
}
scan_selfcheck

# ---- a. the kernels --------------------------------------------------------------

declare -A kout=()
# build_kernel VARIANT: kout[VARIANT] = its output directory; returns 77 if
# the source package cannot be had (a SKIP line printed), 1 on failure.
build_kernel() {
    local v="$1" st why t0=$SECONDS
    echo "=== kernel/build.sh --variant $v"
    set +e
    "$root/kernel/build.sh" --variant "$v" 2>&1 >"$tmp/build-$v.out" | tee "$tmp/build-$v.err"
    st=${PIPESTATUS[0]}
    set -e
    cat "$tmp/build-$v.out"
    if ((st == 77)); then
        why="$(sed -n 's/^\[kernel\] //p' "$tmp/build-$v.err" | tail -n1)"
        echo "SKIP: [kernel] kernels: the source package cannot be had: ${why:-see above}"
        return 77
    fi
    if ((st != 0)); then
        echo "FAIL: [kernel] build: the $v kernel (kernel/build.sh --variant $v exited $st, see above)"
        return 1
    fi
    kout[$v]="$(tail -n1 "$tmp/build-$v.out")"
    [[ -s "${kout[$v]}/bzImage" ]] || { echo "FAIL: [kernel] build: no bzImage in '${kout[$v]}'"; return 1; }
    echo "kernel $v ready in $((SECONDS - t0)) s: ${kout[$v]}"
    return 0
}

st=0
build_kernel guest || st=$?
if ((st == 77)); then exit 0; fi
((st == 0)) || rc=1
st=0
build_kernel debug || st=$?
((st == 0)) || rc=1

# ---- b. the static guest programs ----------------------------------------------------

progs=(build-guest/tests/nvme/nvme_target build-guest/tools/unified-bench)
echo "=== guest programs (static)"
if ! make -C "$root" -s -j"$(nproc)" BUILD=build-guest STATIC_EXE=1 NO_XDP=1 "${progs[@]}"; then
    echo "FAIL: [kernel] build: the static guest programs (${progs[*]})"
    rc=1
fi
if [[ -f "$root/tests/kernel/hostile.c" ]]; then
    # against the series' UAPI headers (make headers_install of kernel/build.sh)
    hdrs="${kout[guest]:-${kout[debug]:-}}"
    if make -C "$root" -s BUILD=build-guest STATIC_EXE=1 NO_XDP=1 ${hdrs:+KERNEL_HEADERS="$hdrs/usr/include"} \
        build-guest/tests/kernel/hostile; then
        progs+=(build-guest/tests/kernel/hostile)
    else
        echo "FAIL: [kernel] build: build-guest/tests/kernel/hostile (tests/kernel/hostile.c)"
        rc=1
    fi
fi

# bin_dir DIR KOUT SCRIPT PLACEHOLDER: the guest's /bin/t (the programs, the
# selftest programs of KOUT, run-selftests) and DIR/guest-tests.sh: SCRIPT if
# it exists, else PLACEHOLDER.
bin_dir() {
    local dir="$1" k="$2" script="$3" placeholder="$4" p names=""
    mkdir -p "$dir"
    for p in "${progs[@]}"; do
        if [[ -x "$root/$p" ]]; then cp "$root/$p" "$dir/"; fi
    done
    for p in "$k"/selftest/*; do
        if [[ ! -f "$p" || ! -x "$p" ]] || ! head -c4 "$p" | grep -q ELF; then continue; fi
        cp "$p" "$dir/"
        names="$names $(basename "$p")"
    done
    sed "s|@PROGS@|${names# }|" >"$dir/run-selftests" <<'GUEST'
#!/bin/sh
# Made by tests/kernel/run.sh: runs the io_uring selftest programs of the
# kernel series (tools/testing/selftests/io_uring, built by kernel/build.sh)
# and turns their TAP lines into PASS:/FAIL:/SKIP: lines.
# Usage: run-selftests [NAME...]   (default: every one).  Exit 1 on a failure.
PROGS="@PROGS@"
[ $# -gt 0 ] && PROGS="$*"
if [ -z "$PROGS" ]; then
	echo "SKIP: selftest: the kernel tree has no tools/testing/selftests/io_uring programs"
	exit 0
fi
rc=0
for p in $PROGS; do
	{ /bin/t/$p 2>&1; echo "__selftest_rc=$?"; } | awk -v p="$p" '
	/^__selftest_rc=/ { rc = substr($0, 15) + 0; next }
	/^(PASS|FAIL|SKIP): / { print; n++; if ($1 == "FAIL:") f++; next }
	/^not ok [0-9]+/ { d = $0; sub(/^not ok [0-9]+ *(- *)?/, "", d)
		print "FAIL: selftest " p ": " d; n++; f++; next }
	/^ok [0-9]+/ { d = $0; sub(/^ok [0-9]+ *(- *)?/, "", d)
		if (match(d, /# *[Ss][Kk][Ii][Pp]/)) {	# "ok N [name] # SKIP [reason]"
			why = substr(d, RSTART + RLENGTH); d = substr(d, 1, RSTART - 1)
			sub(/ +$/, "", d); sub(/^ +/, "", why)
			print "SKIP: selftest " p (d != "" ? ": " d : "") (why != "" ? ": " why : "")
		} else print "PASS: selftest " p ": " d
		n++; next }
	{ print }
	END {
		if (rc == 4 && !f) { if (!n) print "SKIP: selftest " p ": exit status 4 (KSFT_SKIP)"; exit 0 }
		if (rc != 0 && !f) { print "FAIL: selftest " p ": exit status " rc; exit 1 }
		if (rc == 0 && !n) print "PASS: selftest " p " (exit status 0)"
		exit (rc != 0 || f) }' || rc=1
done
exit $rc
GUEST
    chmod +x "$dir/run-selftests"
    if [[ -f "$script" ]]; then
        cp "$script" "$dir/guest-tests.sh"
    else
        printf '%s\n' "$placeholder" >"$dir/guest-tests.sh"
    fi
    chmod +x "$dir/guest-tests.sh"
}

# boot TAG LOG RUN.SH-ARGS...: one boot; its case names prefixed with [TAG],
# the console in LOG.  The final dmesg is not shown (it is in LOG).
# Returns 0 passed, 1 failed (a FAIL line printed, the guest's or one for the boot).
boot() {
    local tag="$1" console="$2" out="$tmp/boot-$1.out" st why
    shift 2
    set +e
    "$root/tests/qemu/run.sh" --log "$console" --append t.dmesg=1 "$@" 2>&1 |
        sed -u -E "s/^(PASS|FAIL|SKIP): /\1: [$tag] /" | tee "$out" |
        awk '/^=== guest kernel log begin/ { skip = 1 } !skip { print; fflush() }
             /^=== guest kernel log end/ { skip = 0 }'
    st=${PIPESTATUS[0]}
    set -e
    ((st == 0)) && return 0
    if ! tr -d '\r' <"$out" | grep -q '^FAIL: '; then
        why="$(tr -d '\r' <"$out" | sed -n 's/^\[qemu-tier\] \(FAIL\|ERROR\): //p' | head -n1)"
        echo "FAIL: [$tag] boot: ${why:-tests/qemu/run.sh exited $st}"
    fi
    return 1
}

# run_kernel TAG VARIANT SCRIPT PLACEHOLDER TIMEOUT: c./d. and e. for one kernel.
# SCRIPT is the first of a list (separated by ":") that exists.
run_kernel() {
    local tag="$1" v="$2" script="$3" placeholder="$4" timeout_s="$5" k console t0=$SECONDS f cands
    IFS=: read -ra cands <<<"$3"
    for f in "${cands[@]}"; do
        script="$f"
        [[ -f "$f" ]] && break
    done
    k="${kout[$v]:-}"
    if [[ -z "$k" ]]; then
        echo "SKIP: [$tag] guest suite: the $v kernel was not built (see above)"
        return 0
    fi
    bin_dir "$tmp/bin-$v" "$k" "$script" "$placeholder"
    console="$logdir/$tag.log"
    echo
    echo "=== $tag: $k/bzImage, $(basename "$script")$([[ -f "$script" ]] || echo ' (not written yet: placeholder)'), nvme.poll_queues=2"
    boot "$tag" "$console" --bzimage "$k/bzImage" --pollq 2 --timeout "$timeout_s" "$tmp/bin-$v" || rc=1
    scan_klog "$console" "$tag" || rc=1
    echo "=== $tag: done in $((SECONDS - t0)) s (console log: $console)"
}

# ---- c. the guest kernel, d. the debug kernel, e. their logs -----------------------

# Used only if tests/kernel/guest-tests.sh is missing: the selftest, then
# the NVMe suite.  The same script runs in both guests (the debug kernel's
# checks are in its configuration and in the log scan).
placeholder="$(cat <<'GUEST'
#!/bin/sh
rc=0
mkdir -p /tmp && cd /tmp
/bin/t/run-selftests || rc=1
/bin/t/nvme_target || rc=1
exit $rc
GUEST
)"
run_kernel kernel guest "$here/guest-tests.sh" "$placeholder" "${KERNEL_QEMU_TIMEOUT:-600}"
run_kernel kernel-debug debug "$here/guest-tests.sh" "$placeholder" "${KERNEL_DEBUG_QEMU_TIMEOUT:-1800}"

# ---- f. kernel/build.sh --check -------------------------------------------------------

if [[ "${UNIFIED_KERNEL_CHECK:-1}" != 0 ]]; then
    echo
    echo "=== kernel/build.sh --check"
    t0=$SECONDS
    set +e
    "$root/kernel/build.sh" --check 2>&1 | sed -u -E "s/^(PASS|FAIL|SKIP): /\1: [kernel-check] /" | tee "$tmp/check.out"
    st=${PIPESTATUS[0]}
    set -e
    np="$(grep -c '^PASS: ' "$tmp/check.out" || true)"
    nf="$(grep -c '^FAIL: ' "$tmp/check.out" || true)"
    echo "=== kernel/build.sh --check: $np PASS, $nf FAIL lines in $((SECONDS - t0)) s"
    if ((st != 0)); then
        rc=1
        ((nf > 0)) || echo "FAIL: [kernel-check] kernel/build.sh --check exited $st without a FAIL line (see above)"
    fi
else
    echo "SKIP: [kernel-check] kernel/build.sh --check: UNIFIED_KERNEL_CHECK=0"
fi

echo "=== kernel tier: $((SECONDS - t_start)) s"
exit $rc
