#!/bin/bash
# The NVMe passthrough benchmark on the patched kernel, in ONE guest boot:
# libunified's kernel engine (IORING_REGISTER_UNIFIED_IFQ), libunified's
# user engine, plain liburing passthrough and fio's io_uring_cmd, 4 KiB
# random reads on nsid 1 (256 MiB, 512 B LBAs) of the emulated controller,
# at QD 1 and QD 32, with interrupts and polled: IOPS, the ratio to liburing,
# and system calls per I/O, measured.
#
#   tests/kernel/bench.sh           the benchmark below
#   tests/kernel/bench.sh --fio     instead: examples/fio/compare.fio in the
#       same guest, 4 KiB random reads on nsid 1 through fio's io_uring (block
#       node), io_uring_cmd (generic node) and libunified-fio.so (the kernel
#       engine, and unified_engine=user), one job after the other, at QD 1
#       and 32 with interrupts and at QD 32 polled (hipri); BENCH_RUNTIME
#       seconds per job (default 5), BENCH_ROUNDS rounds (default 2, the
#       mean and the range reported).  Summary: OUT/fio-summary.md.
#
# For each QD and completion mode, in the guest:
#   1. unified-bench --engine kernel --baselines user,liburing --interleave N:
#      the three engines in one invocation, alternating slice by slice; the
#      kernel engine must really run (--engine kernel fails rather than fall
#      back to the user engine).  Polled: --iopoll, with
#      UNIFIED_REQUIRE_KERNEL_ENGINE=1 so that the kernel engine runs on the
#      IOPOLL ring.
#   2. the same once more with --count-syscalls: each engine's system calls
#      counted by the kernel's syscall tracepoints (perf counters) from the
#      first submission of a slice to the end of its drain, divided by the
#      commands completed there.  The timed run of 1. is not counted.
#   3. fio --ioengine=io_uring_cmd, the same workload (fixedbufs,
#      registerfiles, submit/complete batches of qd/4 like unified-bench,
#      --hipri when polled).
#   4. fio twice more under tests/bench/syscount (the same counters), for
#      COUNT_RUNTIME and 2 x COUNT_RUNTIME seconds: the difference of the
#      two runs' system calls divided by the difference of their I/Os is
#      fio's steady state, without its start-up and exit.
# Then a summary table (Markdown) on stdout and in OUT/summary.md.
#
# The kernel: kernel/build.sh's guest kernel (the series on Debian's
# linux-source-6.12) with three more options, built here and cached:
# CONFIG_SYSVIPC (fio keeps its job table in System V shared memory) and
# CONFIG_FTRACE + CONFIG_FTRACE_SYSCALLS (the syscall tracepoints the counters
# count; the function tracer stays off).  Without them (BENCH_KERNEL=guest)
# fio cannot start and the counts fall back to ptrace, which slows every
# system call down so much that waits find more completions ready: those
# counts are marked "ptrace" and are lower than an untraced run's.
#
# Environment:
#   BENCH_RUNTIME=SEC        seconds per engine in the timed runs (default 5)
#   BENCH_COUNT_RUNTIME=SEC  seconds per engine in the counted runs (default 2)
#   BENCH_INTERLEAVE=N       slices of the timed runs (default 8)
#   BENCH_KERNEL=bench|guest bench (default): the guest kernel plus the
#                            options above; guest: kernel/build.sh's as it is
#   BENCH_BZIMAGE=PATH       boot this kernel image instead
#   BENCH_OUT=DIR            console log, results, summary and the kernels
#                            (default <repo>/build/bench-kernel)
#   UNIFIED_KERNEL_CACHE     kernel/build.sh's cache (default: BENCH_OUT/kernel-cache,
#                            one of our own; <repo>/build/kernel is the tier's)
#   BENCH_QEMU_TIMEOUT=SEC   limit of the boot (default: from the runtimes)
#
# Exit status: 0 if every run completed without errors and the kernel
# engine ran where it was labelled so; 77 if the kernel cannot be built
# (its source package cannot be had); 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

bench_mode=main
if [[ "${1:-}" == --fio ]]; then
    bench_mode=fio
elif [[ -n "${1:-}" ]]; then
    echo "usage: bench.sh [--fio]" >&2
    exit 2
fi
runtime="${BENCH_RUNTIME:-5}"
count_runtime="${BENCH_COUNT_RUNTIME:-2}"
interleave="${BENCH_INTERLEAVE:-8}"
out="${BENCH_OUT:-$root/build/bench-kernel}"
for v in runtime count_runtime interleave; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: $v must be a positive integer" >&2; exit 2; }
done
# Per configuration: 3 engines timed and counted, fio timed and counted
# twice (1 + 2 runtimes), and about 60 s of start-ups under TCG.
timeout_s="${BENCH_QEMU_TIMEOUT:-$((4 * (4 * runtime + 6 * count_runtime + 60) + 300))}"

log() { printf '[bench] %s\n' "$*" >&2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kernel-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# ---- the kernel ----------------------------------------------------------------

# The options the bench kernel adds to the guest kernel's .config.
BENCH_KCONFIG=(-e SYSVIPC -e FTRACE -e FTRACE_SYSCALLS -d FUNCTION_TRACER -d FUNCTION_GRAPH_TRACER
               -d DYNAMIC_FTRACE -d STACK_TRACER -d IRQSOFF_TRACER -d SCHED_TRACER -d HWLAT_TRACER
               -d OSNOISE_TRACER -d TIMERLAT_TRACER -d MMIOTRACE -d BLK_DEV_IO_TRACE
               -d KPROBE_EVENTS -d UPROBE_EVENTS)

# bench_kernel GUEST_OUT: the kernel of kernel/build.sh's GUEST_OUT plus
# BENCH_KCONFIG, built from the same source tree (kernel/build.sh's cache
# holds it at the series' commit) in a copy of its object tree, so only what
# the options change is compiled again; prints the bzImage's path.  Cached by
# the commit, the guest config and the options.
bench_kernel() {
    local gout="$1" kcache="$2" kc="$out/kernel" head key dest st=0 o
    head="$(sed -n 's/^head=//p' "$gout/info")"
    key="$( { echo "$head"; cat "$gout/config"; echo "${BENCH_KCONFIG[*]}"; } | sha256sum | cut -c1-16)"
    dest="$kc/bench-$key"
    if [[ -s "$dest/bzImage" ]]; then
        log "bench kernel: cached ($dest)"
        printf '%s\n' "$dest/bzImage"
        return 0
    fi
    if [[ -z "$head" || "$(git -C "$kcache/src" rev-parse HEAD 2>/dev/null)" != "$head" ]]; then
        log "$kcache/src is not at the guest kernel's commit ${head:-?}"
        return 1
    fi
    mkdir -p "$kc"
    rm -rf "$kc/obj"
    cp -a "$kcache/obj-guest" "$kc/obj"
    cp "$gout/config" "$kc/obj/.config"
    "$kcache/src/scripts/config" --file "$kc/obj/.config" "${BENCH_KCONFIG[@]}"
    log "building the bench kernel: $gout + ${BENCH_KCONFIG[*]} (log: $kc/build.log)"
    {
        make -C "$kcache/src" O="$kc/obj" ARCH=x86_64 olddefconfig &&
            make -C "$kcache/src" O="$kc/obj" ARCH=x86_64 -j"$(nproc)" bzImage
    } >"$kc/build.log" 2>&1 || st=$?
    if ((st)); then
        tail -n 20 "$kc/build.log" >&2
        return 1
    fi
    for o in SYSVIPC FTRACE_SYSCALLS IO_URING_UNIFIED BLK_DEV_NVME; do
        grep -q "^CONFIG_$o=y" "$kc/obj/.config" || { log "CONFIG_$o is not set in $kc/obj/.config"; return 1; }
    done
    rm -rf "$kc"/bench-*
    mkdir -p "$dest"
    cp "$kc/obj/arch/x86/boot/bzImage" "$kc/obj/.config" "$dest/"
    printf 'guest=%s\nhead=%s\noptions=%s\n' "$gout" "$head" "${BENCH_KCONFIG[*]}" >"$dest/info"
    rm -rf "$kc/obj"
    printf '%s\n' "$dest/bzImage"
}

bz="${BENCH_BZIMAGE:-}"
if [[ -z "$bz" ]]; then
    # A cache of our own by default: kernel/build.sh serializes the builds
    # of one cache, but others may empty theirs while we read it.
    kcache="${UNIFIED_KERNEL_CACHE:-$out/kernel-cache}"
    log "kernel/build.sh --variant guest in $kcache (cached when the series is unchanged)"
    set +e
    UNIFIED_KERNEL_CACHE="$kcache" "$root/kernel/build.sh" --variant guest >"$tmp/build.out" 2>"$tmp/build.err"
    st=$?
    set -e
    if ((st == 77)); then
        tail -n 3 "$tmp/build.err" >&2
        log "SKIP: the kernel source package cannot be had"
        exit 77
    fi
    if ((st != 0)); then
        tail -n 20 "$tmp/build.err" >&2
        log "kernel/build.sh failed (exit $st)"
        exit 1
    fi
    gout="$(tail -n 1 "$tmp/build.out")"
    bz="$gout/bzImage"
    if [[ "${BENCH_KERNEL:-bench}" == bench ]]; then
        bz="$(bench_kernel "$gout" "$kcache")" || { log "the bench kernel could not be built"; exit 1; }
    fi
fi
[[ -s "$bz" ]] || { log "no kernel image at '$bz'"; exit 1; }

# ---- fio's comparison (--fio) -----------------------------------------------------

if [[ $bench_mode == fio ]]; then
    log "building the fio ioengine against the guest build of the library"
    make -C "$root" -s -j"$(nproc)" BUILD=build-guest STATIC_EXE=1 NO_XDP=1 build-guest/lib/libunified.a
    "$root/fio/build.sh" build-guest >&2
    bindir="$tmp/bin"
    mkdir -p "$bindir"
    cp "$(command -v fio)" "$root/build-guest/fio/libunified-fio.so" "$bindir/"
    # mkinitrd.sh takes the executable files of BIN_DIR into /bin/t
    install -m 755 "$root/examples/fio/compare.fio" "$bindir/compare.fio"
    rounds="${BENCH_ROUNDS:-2}"
    sed -e "s/@RUNTIME@/$runtime/" -e "s/@ROUNDS@/$rounds/" >"$bindir/guest-tests.sh" <<'GUEST'
#!/bin/sh
# Made by tests/kernel/bench.sh --fio: examples/fio/compare.fio, in the guest.
RT=@RUNTIME@
rc=0
mkdir -p /tmp && cd /tmp
ng=/dev/ng0n1
for b in /sys/block/nvme0n*; do [ "$(cat $b/nsid 2>/dev/null)" = 1 ] && ng=/dev/ng${b##*/nvme}; done
blk=/dev/nvme${ng##*/ng}
echo "BENCH target $ng $blk $(uname -r)"
round=1
while [ $round -le @ROUNDS@ ]; do
for run in "1 irq" "32 irq" "32 poll"; do
	set -- $run
	qd=$1 mode=$2
	b=$((qd / 4)); [ $b -lt 1 ] && b=1
	# The job file as shipped, with this run's depth, batches and runtime
	# (and hipri on every job when polled).
	sed -e "s/^iodepth=.*/iodepth=$qd/" -e "s/^iodepth_batch_submit=.*/iodepth_batch_submit=$b/" \
	    -e "s/^iodepth_batch_complete_min=.*/iodepth_batch_complete_min=$b/" \
	    -e "s/^runtime=.*/runtime=$RT/" /bin/t/compare.fio >/tmp/job.fio
	[ $mode = poll ] && sed -i '/^ioengine=/a hipri' /tmp/job.fio
	echo "=== round $round, qd $qd, $mode: fio examples/fio/compare.fio, $RT s per job"
	UNIFIED_FIO_BLOCK=$blk UNIFIED_FIO_NG=$ng UNIFIED_FIO_PLUGIN=/bin/t/libunified-fio.so \
		/bin/t/fio --eta=never --output-format=normal,json --output=/tmp/out /tmp/job.fio \
		2>/tmp/err || rc=1
	cat /tmp/err
	grep '^libunified-fio:' /tmp/out | sed "s/^/BENCH engine $round $qd $mode /"
	echo "BENCH fiojson $round $qd $mode $(sed -n '/^{$/,/^}$/{s/^ *//;p}' /tmp/out | tr -d '\n')"
done
round=$((round + 1))
done
exit $rc
GUEST
    chmod +x "$bindir/guest-tests.sh"
    console="$out/fio-console.log"
    timeout_s="${BENCH_QEMU_TIMEOUT:-$((rounds * 3 * 4 * (runtime + 10) + 300))}"
    log "booting $bz (nvme.poll_queues=2, limit ${timeout_s} s); console: $console"
    st=0
    # loglevel=1: no kernel message lands inside a result line.
    "$root/tests/qemu/run.sh" --bzimage "$bz" --pollq 2 --timeout "$timeout_s" --log "$console" \
        --append "loglevel=1" "$bindir" >"$tmp/run.out" 2>&1 || st=$?
    grep -E '^\[qemu-tier\]|^INIT: (kernel|nvme)' "$tmp/run.out" | tr -d '\r' >&2 || true
    tr -d '\r' <"$console" | grep -a '^BENCH ' >"$out/fio-results.txt" || true
    set +e
    python3 - "$out/fio-results.txt" "$runtime" "$rounds" >"$out/fio-summary.md" <<'PY'
import json, sys

path, rt, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs, engines, target, bad = {}, {}, "?", []
for line in open(path, errors="replace"):
    f = line.rstrip("\n").split(" ", 5)
    if f[1] == "target":
        target = line.split(" ", 2)[2].strip()
    elif f[1] == "engine":
        # libunified-fio: /dev/ng0n2: nsid 1, ..., kernel engine, kick mode
        engines.setdefault((int(f[3]), f[4]), {}).setdefault(int(f[2]), []).append(
            f[5].split(", ")[-2] if "polled" not in f[5] else f[5].split(", ")[-3])
    elif f[1] == "fiojson":
        try:
            runs.setdefault((int(f[3]), f[4]), {})[int(f[2])] = json.loads(f[5])
        except (ValueError, IndexError) as e:
            bad.append("round %s qd %s %s: no JSON (%s)" % (f[2], f[3], f[4], e))
print("fio 3.33, examples/fio/compare.fio, 4 KiB random reads, %s s per job, the four jobs one after "
      "the other, %d rounds (mean; the range in brackets); target %s.\n" % (rt, rounds, target))
print("| QD | completions | fio job | ioengine (io_unified's engine) | IOPS | vs io_uring | clat p50 us | clat p99 us | usr+sys CPU % |")
print("|---|---|---|---|---|---|---|---|---|")
for key in ((1, "irq"), (32, "irq"), (32, "poll")):
    per = runs.get(key, {})
    if len(per) != rounds:
        bad.append("qd %d %s: %d of %d rounds" % (key[0], key[1], len(per), rounds))
    if not per:
        continue
    stats = {}
    for rnd, j in sorted(per.items()):
        eng = iter(engines.get(key, {}).get(rnd, []))
        for job in j["jobs"]:
            r = job["read"]
            pct = r["clat_ns"].get("percentile", {})
            e = job["job options"].get("ioengine", "")
            label = e if not e.startswith("external:") else "libunified-fio (%s)" % next(eng, "?")
            st = stats.setdefault(job["jobname"], {"label": label, "iops": [], "p50": [], "p99": [], "cpu": []})
            st["iops"].append(r["iops"])
            st["p50"].append(pct.get("50.000000", 0) / 1000.0)
            st["p99"].append(pct.get("99.000000", 0) / 1000.0)
            st["cpu"].append(job["usr_cpu"] + job["sys_cpu"])
            if job["error"]:
                bad.append("round %d qd %d %s %s: error %d" % (rnd, key[0], key[1], job["jobname"], job["error"]))
    mean = lambda v: sum(v) / len(v)
    base = mean(stats["io_uring"]["iops"]) if "io_uring" in stats else None
    for name, st in stats.items():
        iops = mean(st["iops"])
        print("| %d | %s | %s | %s | %.1fk [%.1f-%.1f] | %s | %.0f | %.0f | %.0f |" % (
            key[0], "polled" if key[1] == "poll" else "interrupts", name, st["label"], iops / 1000.0,
            min(st["iops"]) / 1000.0, max(st["iops"]) / 1000.0,
            "%.2fx" % (iops / base) if base else "n/a", mean(st["p50"]), mean(st["p99"]), mean(st["cpu"])))
for b in bad:
    print("\nproblem: " + b)
sys.exit(1 if bad else 0)
PY
    pst=$?
    set -e
    cat "$out/fio-summary.md"
    log "results: $out/fio-results.txt, summary: $out/fio-summary.md, console: $console"
    ((st == 0)) || { log "the guest run failed (tests/qemu/run.sh exit $st): see $console"; exit 1; }
    exit "$pst"
fi

# ---- the guest programs --------------------------------------------------------

progs=(build-guest/tools/unified-bench build-guest/tests/bench/syscount)
log "building ${progs[*]} (static)"
make -C "$root" -s -j"$(nproc)" BUILD=build-guest STATIC_EXE=1 NO_XDP=1 "${progs[@]}"
bindir="$tmp/bin"
mkdir -p "$bindir"
for p in "${progs[@]}"; do cp "$root/$p" "$bindir/"; done
# Debian's fio is dynamically linked: tests/qemu/mkinitrd.sh copies every
# program of BIN_DIR with the shared libraries ldd lists and the loader.
fio_bin="$(command -v fio)" || { log "fio not found (apt-get install fio)"; exit 1; }
cp "$fio_bin" "$bindir/fio"

# The guest's script.  Each result is one console line "BENCH KIND QD MODE ...".
sed -e "s/@RUNTIME@/$runtime/" -e "s/@COUNT_RUNTIME@/$count_runtime/" \
    -e "s/@INTERLEAVE@/$interleave/" >"$bindir/guest-tests.sh" <<'GUEST'
#!/bin/sh
# Made by tests/kernel/bench.sh: the benchmark, in the guest.
RT=@RUNTIME@
CRT=@COUNT_RUNTIME@
IL=@INTERLEAVE@
rc=0
mkdir -p /tmp && cd /tmp
# nsid 1 (256 MiB, 512 B LBAs); on 6.12 its node may be ng0n2
ng=/dev/ng0n1
for b in /sys/block/nvme0n*; do [ "$(cat $b/nsid 2>/dev/null)" = 1 ] && ng=/dev/ng${b##*/nvme}; done
echo "BENCH target $ng $(uname -r)"
# The counters count the syscall tracepoints; without them, ptrace.
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
M=ptrace
[ -e /sys/kernel/tracing/events/raw_syscalls/sys_enter/id ] && M=perf
echo "BENCH method $M"
# fio keeps its job table in System V shared memory
FIO=1
[ -e /proc/sysvipc/shm ] || { FIO=0; echo "BENCH nofio the kernel has no System V IPC (CONFIG_SYSVIPC): fio cannot run"; }
UB=/bin/t/unified-bench
for qd in 1 32; do
	for mode in irq poll; do
		if [ $mode = poll ]; then
			pf=--iopoll; hipri=--hipri; req=UNIFIED_REQUIRE_KERNEL_ENGINE=1
		else
			pf=; hipri=; req=
		fi
		b=$((qd / 4)); [ $b -lt 1 ] && b=1
		common="--target $ng --rw randread --bs 4k --qd $qd --engine kernel --baselines user,liburing $pf --json"
		echo "=== qd $qd, $mode: unified-bench, ${RT} s per engine in $IL slices"
		o=$(env $req $UB $common --runtime $RT --interleave $IL 2>/tmp/err) || rc=1
		cat /tmp/err
		echo "BENCH ub $qd $mode $o"
		echo "=== qd $qd, $mode: unified-bench --count-syscalls, ${CRT} s per engine"
		o=$(env $req $UB $common --runtime $CRT --interleave 2 --count-syscalls=$M 2>/tmp/err) || rc=1
		cat /tmp/err
		echo "BENCH ubsys $qd $mode $o"
		[ $FIO = 1 ] || continue
		fa="--name=pt --filename=$ng --ioengine=io_uring_cmd --cmd_type=nvme --rw=randread --bs=4k"
		fa="$fa --iodepth=$qd --iodepth_batch_submit=$b --iodepth_batch_complete_min=$b --fixedbufs"
		fa="$fa --registerfiles --norandommap --randrepeat=0 $hipri --size=256M --time_based"
		fa="$fa --output-format=terse --terse-version=3"
		echo "=== qd $qd, $mode: fio io_uring_cmd, ${RT} s"
		o=$(/bin/t/fio $fa --runtime=$RT 2>/tmp/err) || rc=1
		cat /tmp/err
		echo "BENCH fio $qd $mode $o"
		for r in $CRT $((2 * CRT)); do
			echo "=== qd $qd, $mode: fio io_uring_cmd under syscount, $r s"
			o=$(/bin/t/syscount -m $M -o /tmp/sc /bin/t/fio $fa --runtime=$r 2>/tmp/err) || rc=1
			cat /tmp/err
			echo "BENCH fiosys $qd $mode $r $(awk '{ printf "%s=%s ", $1, $2 }' /tmp/sc)| $o"
		done
	done
done
exit $rc
GUEST
chmod +x "$bindir/guest-tests.sh"

# ---- one boot --------------------------------------------------------------------

console="$out/console.log"
log "booting $bz (nvme.poll_queues=2, limit ${timeout_s} s); console: $console"
st=0
"$root/tests/qemu/run.sh" --bzimage "$bz" --pollq 2 --timeout "$timeout_s" --log "$console" \
    "$bindir" >"$tmp/run.out" 2>&1 || st=$?
grep -E '^\[qemu-tier\]|^INIT: (kernel|nvme)' "$tmp/run.out" | tr -d '\r' >&2 || true

# ---- the summary ------------------------------------------------------------------

tr -d '\r' <"$console" | grep -a '^BENCH ' >"$out/results.txt" || true
set +e
python3 - "$out/results.txt" "$runtime" "$count_runtime" "$interleave" >"$out/summary.md" <<'PY'
import json, sys

path, rt, crt, il = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ub, ubsys, fio, fiosys = {}, {}, {}, {}
target, method = "?", "?"
bad = []
for line in open(path, errors="replace"):
    f = line.rstrip("\n").split(" ", 4)
    if len(f) >= 3 and f[1] == "target":
        target = " ".join(f[2:])
        continue
    if len(f) >= 3 and f[1] == "method":
        method = f[2]
        continue
    if len(f) >= 3 and f[1] == "nofio":
        bad.append(" ".join(f[2:]))
        continue
    if len(f) < 5:
        continue
    kind, key, rest = f[1], (int(f[2]), f[3]), f[4]
    try:
        if kind in ("ub", "ubsys"):
            (ub if kind == "ub" else ubsys)[key] = json.loads(rest)
        elif kind == "fio":
            t = rest.split(";")
            # terse v3: 5 error, 6 read KiB, 8 read IOPS
            fio[key] = {"err": int(t[4]), "ios": int(t[5]) // 4, "iops": float(t[7])}
        elif kind == "fiosys":
            secs, _, tail = rest.partition(" ")
            counts, _, terse = tail.partition("| ")
            c = dict(kv.split("=", 1) for kv in counts.split() if "=" in kv)
            t = terse.split(";")
            fiosys.setdefault(key, []).append({"secs": int(secs), "calls": int(c["calls"]),
                                               "enter": int(c["io_uring_enter"]),
                                               "err": int(t[4]), "ios": int(t[5]) // 4})
    except (ValueError, KeyError, IndexError) as e:
        bad.append("%s %s: unreadable (%s)" % (kind, key, e))

def k(v):
    return "%.1fk" % (v / 1000) if v >= 1000 else "%.0f" % v

names = [("unified", "kernel engine"), ("unified-user", "user engine"),
         ("liburing", "liburing"), ("fio", "fio io_uring_cmd")]
print("Target %s; 4 KiB random reads; timed: %s s per engine in %s interleaved slices "
      "(unified-bench) and %s s (fio); system calls counted (%s) in separate runs of %s s per "
      "engine (fio: the difference of a %s s and a %s s run).\n"
      % (target, rt, il, rt, method, crt, crt, 2 * int(crt)))
if method != "perf":
    print("**Counted with ptrace: every traced call is slow, waits find more completions "
          "ready, so these counts are LOWER than an untraced run's.**\n")
print("| QD | completions | engine | IOPS | vs liburing | syscalls / I/O | io_uring_enter / I/O |")
print("|---|---|---|---|---|---|---|")
for qd in (1, 32):
    for mode in ("irq", "poll"):
        key = (qd, mode)
        runs = {r["engine"]: r for r in ub.get(key, {}).get("runs", [])}
        sysr = {r["engine"]: r for r in ubsys.get(key, {}).get("runs", [])}
        base = runs.get("liburing", {}).get("iops", 0)
        for eng, label in names:
            iops, note, spi, epi = None, "", "n/a", "n/a"
            if eng == "fio":
                fr = fio.get(key)
                if fr:
                    iops = fr["iops"]
                    if fr["err"]:
                        note = " (fio error %d)" % fr["err"]
                        bad.append("fio %s: error %d" % (key, fr["err"]))
                fs = sorted(fiosys.get(key, []), key=lambda x: x["secs"])
                if len(fs) == 2 and fs[1]["ios"] > fs[0]["ios"]:
                    d = fs[1]["ios"] - fs[0]["ios"]
                    spi = "%.3f" % ((fs[1]["calls"] - fs[0]["calls"]) / d)
                    epi = "%.3f" % ((fs[1]["enter"] - fs[0]["enter"]) / d)
            else:
                r = runs.get(eng)
                if r:
                    iops = r["iops"]
                    want = {"unified": "kernel", "unified-user": "user"}.get(eng)
                    if want and r.get("unified_engine") != want:
                        note = " (ran the %s engine!)" % r.get("unified_engine")
                        bad.append("%s %s: %s engine" % (eng, key, r.get("unified_engine")))
                    if not r["ok"]:
                        note += " (errors: %s)" % r.get("first_error", "failed")
                        bad.append("%s %s: not ok" % (eng, key))
                s = sysr.get(eng, {}).get("syscalls")
                if s and s["ios"]:
                    spi = "%.3f" % s["per_io"]
                    epi = "%.3f" % s["io_uring_enter_per_io"]
            ratio = "%.2fx" % (iops / base) if iops and base else "n/a"
            print("| %d | %s | %s | %s%s | %s | %s | %s |" % (
                qd, "polled" if mode == "poll" else "interrupts", label,
                k(iops) if iops is not None else "missing", note, ratio, spi, epi))
        if key not in ub:
            bad.append("unified-bench %s: no result" % (key,))
# Did counting change the loops?  libunified's kicks per I/O, timed run
# against counted run (each kick of the kernel engine is one io_uring_enter).
print("\nlibunified's kicks per I/O, timed run / counted run (kicks include the drains):\n")
print("| QD | completions | kernel engine | user engine |")
print("|---|---|---|---|")
for qd in (1, 32):
    for mode in ("irq", "poll"):
        cells = []
        for eng in ("unified", "unified-user"):
            v = []
            for src in (ub, ubsys):
                r = {r["engine"]: r for r in src.get((qd, mode), {}).get("runs", [])}.get(eng)
                v.append("%.3f" % (r["kicks"] / r["ios"]) if r and r.get("ios") and "kicks" in r else "n/a")
            cells.append(" / ".join(v))
        print("| %d | %s | %s | %s |" % (qd, "polled" if mode == "poll" else "interrupts", cells[0], cells[1]))
for b in bad:
    print("\nproblem: " + b)
sys.exit(1 if bad else 0)
PY
pst=$?
set -e
cat "$out/summary.md"
log "results: $out/results.txt, summary: $out/summary.md, console: $console"
if ((st != 0)); then
    log "the guest run failed (tests/qemu/run.sh exit $st): see $console"
    exit 1
fi
exit "$pst"
