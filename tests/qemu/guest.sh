#!/bin/bash
# The QEMU NVMe tier: build the project's programs statically, boot each of
# Debian's stock kernels with an emulated NVMe controller (two namespaces:
# 512 B and 4 KiB LBAs, mdts=5, poll queues) and run them there.  Exit 0 only
# if every guest test passed on every kernel that could be fetched.
#
#   guest.sh            run the NVMe target tests and the seed example
#   guest.sh --bench    run the NVMe benchmarks (ours vs liburing vs fio)
#
# Environment:
#   UNIFIED_QEMU_KERNELS="6.1 6.12"  kernel series to boot, in order (the
#       default is both: the library and the kernel's passthrough differ
#       between them, e.g. fixed-buffer windows before 6.12)
#   QEMU_TIMEOUT=SEC   limit for the main boot of each kernel (default 300;
#       the second, poll-queue-less boot gets 120 s). Four boots stay within
#       tests/run.sh's 900 s per program even if every one hangs.
#   BENCH_RUNTIME=SEC  seconds per benchmark (--bench, default 5)
#
# Each kernel is a separate counted run: its PASS/FAIL/SKIP lines are named
# "[6.12] test_x" (main boot) and "[6.12 pollq=0] test_x" (second boot).  A
# kernel whose package cannot be fetched (no network) gives one SKIP line
# with the reason; a boot that fails without a FAIL line of its own (crash,
# timeout, no devices) gives "FAIL: [6.12] boot: reason".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
source "$here/common.sh"
mode="test"
[[ "${1:-}" == "--bench" ]] && mode=bench
runtime="${BENCH_RUNTIME:-5}"
load_kernels
# TCG's default CPU model (qemu64) has no SSE4.2: unified-ingest's CRC32C
# uses the instruction, so the guests get every feature TCG emulates.
export QEMU_EXTRA_ARGS="${QEMU_EXTRA_ARGS:--cpu max}"

progs=(build-guest/tests/nvme/nvme_target build-guest/examples/seed_flow
       build-guest/tests/net/net_socket build-guest/tests/net/zcrx_probe
       build-guest/tools/unified-ingest)
[[ -f "$root/tools/unified-bench.c" ]] && progs+=(build-guest/tools/unified-bench)
[[ $mode == bench ]] && progs+=(build-guest/tools/unified-netbench)
make -C "$root" -s -j"$(nproc)" BUILD=build-guest STATIC_EXE=1 NO_XDP=1 "${progs[@]}" \
	build-guest/lib/libunified.a
# The fio ioengine, against the same library build (fio and the plugin are
# dynamically linked: mkinitrd.sh copies their shared libraries).
"$root/fio/build.sh" build-guest >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bindir="$tmp/bin"
mkdir -p "$bindir"
for p in "${progs[@]}"; do cp "$root/$p" "$bindir/"; done
cp "$(command -v fio)" "$root/build-guest/fio/libunified-fio.so" "$bindir/"

if [[ $mode == test ]]; then
	cat > "$bindir/guest-tests.sh" <<'GUEST'
#!/bin/sh
rc=0
mkdir -p /tmp && cd /tmp
/bin/t/nvme_target || rc=1
for ng in /dev/ng0n1 /dev/ng0n2; do
	if /bin/t/seed_flow "$ng"; then echo "PASS: seed_flow $ng"; else echo "FAIL: seed_flow $ng"; rc=1; fi
done
# The fio ioengine on the NVMe generic nodes (512 B and 4 KiB LBAs) and a
# block node: random writes of 4-64 KiB, then fio reads every block back
# and checks its crc32c; kick mode, thread mode, polled completions.
fiojob() {	# fiojob NAME TARGET ENGINE-OPTIONS...
	name=$1 tgt=$2
	shift 2
	/bin/t/fio --name="$name" --ioengine=external:/bin/t/libunified-fio.so --filename="$tgt" \
		--size=16m --rw=randwrite --bsrange=4k-64k --iodepth=16 --verify=crc32c --do_verify=1 \
		"$@" >/tmp/fio.out 2>&1
	st=$?
	eng=$(sed -n 's/^libunified-fio: [^:]*: //p' /tmp/fio.out)
	# exit 0, no error, and both phases moved all 16 MiB (a verify phase
	# that read nothing would pass the other checks)
	if [ $st = 0 ] && grep -q "err= 0" /tmp/fio.out && ! grep -q "verify failed" /tmp/fio.out &&
	   grep -q "READ: bw=.*io=16.0MiB" /tmp/fio.out && grep -q "WRITE: bw=.*io=16.0MiB" /tmp/fio.out &&
	   [ -n "$eng" ]; then
		echo "PASS: fio plugin: $name on $tgt: 16 MiB written and verified (crc32c); $eng"
	else
		echo "FAIL: fio plugin: $name on $tgt: exit $st: $(grep -m3 -i 'err\|fail\|libunified' /tmp/fio.out | tr '\n' ' ')"
		rc=1
	fi
}
for ng in /dev/ng0n1 /dev/ng0n2; do
	fiojob kick "$ng" --unified_mode=kick
	fiojob thread "$ng" --unified_mode=thread
done
fiojob hipri /dev/ng0n1 --hipri
fiojob block /dev/nvme0n1
# The network rings in the guest: TCP/UDP over loopback in a private network
# namespace, written to the 256 MiB namespace (nsid 1) and read back; sizes
# divided by 16 for TCG.  No iproute2 here: the veth case skips.
ng=/dev/ng0n1
for b in /sys/block/nvme0n*; do [ "$(cat $b/nsid 2>/dev/null)" = 1 ] && ng=/dev/ng${b##*/nvme}; done
UNIFIED_NET_TARGET=$ng UNIFIED_NET_SCALE=16 /bin/t/net_socket || rc=1
UNIFIED_NET_TARGET=$ng /bin/t/zcrx_probe || rc=1

# unified-ingest on the emulated NVMe namespaces (512 B and 4 KiB LBAs, mdts
# 128 KiB), through passthrough, with busybox nc as the client in the guest:
# two connections (octet counting, LF), SIGTERM, verify, dump; then a kill -9
# in the middle of a stream, verify, and the sequence continuing.
ip link set lo up 2>/dev/null || busybox ip link set lo up
ING=/bin/t/unified-ingest
ing_start() {	# ing_start NG: serve in the background, $ipid; 0 once ready
	: >/tmp/ing.out
	$ING serve --target "$1" --listen 127.0.0.1:10514 --buffers 160 --max-conns 16 \
		--stats-interval 0 --json >/tmp/ing.out 2>/tmp/ing.err &
	ipid=$!
	for i in $(seq 100); do grep -q '"ready"' /tmp/ing.out && return 0; sleep 0.1; done
	return 1
}
msgs() {	# msgs TAG N OCTET(1|0) > file
	awk -v t="$1" -v n="$2" -v o="$3" 'BEGIN { for (i = 0; i < n; i++) {
		m = "<13>1 - guest nc - - - " t " seq " i
		if (o) printf "%d %s", length(m), m; else printf "%s\n", m } }'
}
inorder() {	# inorder DUMP TAG N: "TAG seq 0..N-1" in order (N -1: a gap-free prefix)
	awk -v t="$2" -v n="$3" '$(NF-2) == t && $(NF-1) == "seq" { if ($NF != k) bad = 1; k++ }
		END { if (bad || (n >= 0 && k != n)) { print t ": " k " in order: " !bad; exit 1 } }' "$1"
}
for b in /sys/block/nvme0n*; do
	ngi=/dev/ng${b##*/nvme}
	lbs=$(cat $b/queue/logical_block_size)
	why=""
	$ING format --target $ngi >/tmp/f 2>&1 || why="format failed: $(cat /tmp/f)"
	msgs a 3000 1 >/tmp/a; msgs b 3000 0 >/tmp/b
	if [ -z "$why" ] && ing_start $ngi; then
		nc 127.0.0.1 10514 </tmp/a & c1=$!
		nc 127.0.0.1 10514 </tmp/b & c2=$!
		wait $c1 $c2
		sleep 1
		kill -TERM $ipid; wait $ipid || why="serve exited $?"
		$ING verify --target $ngi >/tmp/v 2>&1 || why="$why verify: $(cat /tmp/v)"
		$ING dump --target $ngi >/tmp/d || why="$why dump failed"
		inorder /tmp/d a 3000 || why="$why $(inorder /tmp/d a 3000)"
		inorder /tmp/d b 3000 || why="$why $(inorder /tmp/d b 3000)"
	else
		why="${why:-serve did not start: $(tail -2 /tmp/ing.err)}"
	fi
	if [ -z "$why" ]; then
		echo "PASS: unified-ingest on $ngi ($lbs B LBAs): 2 connections from busybox nc, 6000 messages, each in order; $(cat /tmp/v)"
	else
		echo "FAIL: unified-ingest on $ngi ($lbs B LBAs): $why"; rc=1
	fi
	why=""
	msgs c 400000 1 >/tmp/c
	if ing_start $ngi; then
		nc 127.0.0.1 10514 </tmp/c & c1=$!
		sleep 0.3
		kill -9 $ipid; wait $ipid 2>/dev/null; kill $c1 2>/dev/null; wait $c1 2>/dev/null
		$ING verify --target $ngi >/tmp/v 2>&1 || why="verify after kill -9: $(cat /tmp/v)"
		$ING dump --target $ngi >/tmp/d
		inorder /tmp/d c -1 || why="$why $(inorder /tmp/d c -1)"
		ing_start $ngi || why="$why no restart"
		next=$(sed -n 's/.*"next_seq":\([0-9]*\).*/\1/p' /tmp/ing.out)
		kill -TERM $ipid; wait $ipid
		total=$(grep -c "" /tmp/d)
		[ "$next" = $((total + 1)) ] || why="$why restart continues at $next after $total records"
	else
		why="serve did not start: $(tail -2 /tmp/ing.err)"
	fi
	if [ -z "$why" ]; then
		echo "PASS: unified-ingest on $ngi: kill -9 in the middle of a stream: verify clean, a gap-free prefix of $(grep -c ' c seq ' /tmp/d) of 400000 messages stored, the restart continues the sequence"
	else
		echo "FAIL: unified-ingest kill -9 on $ngi: $why"; rc=1
	fi
done
exit $rc
GUEST
else
	cp "$(command -v fio)" "$bindir/fio"
	cat > "$bindir/guest-tests.sh" <<GUEST
#!/bin/sh
rc=0
mkdir -p /tmp && cd /tmp
# nsid 1 (256 MiB, 512 B LBAs); on 6.12 its node is ng0n2 in some boots
ng=/dev/ng0n1
for b in /sys/block/nvme0n*; do [ "\$(cat \$b/nsid 2>/dev/null)" = 1 ] && ng=/dev/ng\${b##*/nvme}; done
for qd in 1 32; do
	for poll in "" "--iopoll"; do
		echo "=== unified-bench \$ng randread 4k qd \$qd \$poll"
		/bin/t/unified-bench --target \$ng --rw randread --bs 4k --qd \$qd --runtime $runtime --baseline --interleave 8 \$poll || rc=1
		hipri=""; [ -n "\$poll" ] && hipri="--hipri"
		b=\$((qd / 4)); [ \$b -lt 1 ] && b=1
		echo "=== fio io_uring_cmd \$ng randread 4k qd \$qd batch \$b \$hipri"
		/bin/t/fio --name=pt --filename=\$ng --ioengine=io_uring_cmd --cmd_type=nvme \
			--rw=randread --bs=4k --iodepth=\$qd --iodepth_batch_submit=\$b \\
			--iodepth_batch_complete_min=\$b --runtime=$runtime --time_based --fixedbufs \
			\$hipri --size=256M --output-format=terse --terse-version=3 2>&1 | \
			awk -F';' '{ p50=\$24; p99=\$30; p999=\$32; sub(/.*=/,"",p50); sub(/.*=/,"",p99); sub(/.*=/,"",p999); printf "fio: read IOPS %s  bw %s KiB/s  clat p50 %s us  p99 %s us  p99.9 %s us\n", \$8, \$7, p50, p99, p999 }' || rc=1
	done
done
# Network to the NVMe namespace (block node of nsid 1), over loopback.
ip link set lo up 2>/dev/null || busybox ip link set lo up
echo "=== unified-netbench /dev/nvme\${ng##*/ng} 64 MiB over loopback"
/bin/t/unified-netbench --target /dev/nvme\${ng##*/ng} --bytes 64 --runs 2 --ways unified,recvcopy,recvdirect || rc=1
exit \$rc
GUEST
fi
chmod +x "$bindir/guest-tests.sh"

# The second boot, without poll queues: IOPOLL must fall back to interrupts.
nopoll="$tmp/nopoll"
mkdir -p "$nopoll"
cp "$bindir"/nvme_target "$nopoll/"
cat > "$nopoll/guest-tests.sh" <<'GUEST'
#!/bin/sh
mkdir -p /tmp && cd /tmp
exec /bin/t/nvme_target --only iopoll
GUEST
chmod +x "$nopoll/guest-tests.sh"

# boot TAG RUN.SH-ARGS...: one boot, its case names prefixed with [TAG].
# Returns 0 passed, 77 kernel unavailable (a SKIP line printed), 1 failed
# (a FAIL line printed, the guest's own or one for the boot).
boot() {
	local tag="$1" log="$tmp/boot.log" st why
	shift
	set +e
	"$here/run.sh" "$@" 2>&1 | sed -u -E "s/^(PASS|FAIL|SKIP): /\1: [$tag] /" | tee "$log"
	st=${PIPESTATUS[0]}
	set -e
	if ((st == EX_KERNEL_UNAVAILABLE)); then
		why="$(sed -n 's/^\[qemu-tier\] kernel [0-9.]* unavailable: //p' "$log" | tail -n1)"
		echo "SKIP: [$tag] NVMe guest suite: kernel package not fetched: ${why:-see above}"
		return "$st"
	fi
	((st == 0)) && return 0
	if ! tr -d '\r' <"$log" | grep -q '^FAIL: '; then
		why="$(tr -d '\r' <"$log" | sed -n 's/^\[qemu-tier\] \(FAIL\|ERROR\): //p' | head -n1)"
		echo "FAIL: [$tag] boot: ${why:-run.sh exited $st}"
	fi
	return 1
}

rc=0
for k in "${KERNELS[@]}"; do
	echo
	echo "=== kernel $k: NVMe guest $mode (nvme.poll_queues=2)"
	st=0
	boot "$k" --kernel "$k" --pollq 2 --timeout "${QEMU_TIMEOUT:-300}" "$bindir" || st=$?
	((st == EX_KERNEL_UNAVAILABLE)) && continue
	((st == 0)) || rc=1
	if [[ $mode == test ]]; then
		echo "=== kernel $k: guest without poll queues (nvme.poll_queues=0)"
		boot "$k pollq=0" --kernel "$k" --pollq 0 --timeout 120 "$nopoll" || rc=1
	fi
done
exit $rc
