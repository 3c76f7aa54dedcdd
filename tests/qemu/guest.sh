#!/bin/bash
# The QEMU NVMe tier: build the project's programs statically, boot Debian's
# 6.1 kernel with an emulated NVMe controller (two namespaces: 512 B and
# 4 KiB LBAs, mdts=5, poll queues) and run them there.  Exit 0 only if every
# guest test passed.
#
#   guest.sh            run the NVMe target tests and the seed example
#   guest.sh --bench    run the NVMe benchmarks (ours vs liburing vs fio)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mode=test
[[ "${1:-}" == "--bench" ]] && mode=bench
runtime="${BENCH_RUNTIME:-5}"

progs=(build-guest/tests/nvme/nvme_target build-guest/examples/seed_flow)
[[ -f "$root/tools/unified-bench.c" ]] && progs+=(build-guest/tools/unified-bench)
make -C "$root" -s -j"$(nproc)" BUILD=build-guest STATIC_EXE=1 "${progs[@]}"

bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
for p in "${progs[@]}"; do cp "$root/$p" "$bindir/"; done

if [[ $mode == test ]]; then
	cat > "$bindir/guest-tests.sh" <<'GUEST'
#!/bin/sh
rc=0
mkdir -p /tmp && cd /tmp
/bin/t/nvme_target || rc=1
for ng in /dev/ng0n1 /dev/ng0n2; do
	if /bin/t/seed_flow "$ng"; then echo "PASS: seed_flow $ng"; else echo "FAIL: seed_flow $ng"; rc=1; fi
done
exit $rc
GUEST
else
	cp "$(command -v fio)" "$bindir/fio"
	cat > "$bindir/guest-tests.sh" <<GUEST
#!/bin/sh
rc=0
mkdir -p /tmp && cd /tmp
for qd in 1 32; do
	for poll in "" "--iopoll"; do
		echo "=== unified-bench /dev/ng0n1 randread 4k qd \$qd \$poll"
		/bin/t/unified-bench --target /dev/ng0n1 --rw randread --bs 4k --qd \$qd --runtime $runtime --baseline --interleave 8 \$poll || rc=1
		hipri=""; [ -n "\$poll" ] && hipri="--hipri"
		b=\$((qd / 4)); [ \$b -lt 1 ] && b=1
		echo "=== fio io_uring_cmd /dev/ng0n1 randread 4k qd \$qd batch \$b \$hipri"
		/bin/t/fio --name=pt --filename=/dev/ng0n1 --ioengine=io_uring_cmd --cmd_type=nvme \
			--rw=randread --bs=4k --iodepth=\$qd --iodepth_batch_submit=\$b \\
			--iodepth_batch_complete_min=\$b --runtime=$runtime --time_based --fixedbufs \
			\$hipri --size=256M --output-format=terse --terse-version=3 2>&1 | \
			awk -F';' '{ p50=\$24; p99=\$30; p999=\$32; sub(/.*=/,"",p50); sub(/.*=/,"",p99); sub(/.*=/,"",p999); printf "fio: read IOPS %s  bw %s KiB/s  clat p50 %s us  p99 %s us  p99.9 %s us\n", \$8, \$7, p50, p99, p999 }' || rc=1
	done
done
exit \$rc
GUEST
fi
chmod +x "$bindir/guest-tests.sh"
rc=0
"$here/run.sh" --pollq 2 --timeout "${QEMU_TIMEOUT:-600}" "$bindir" || rc=1
if [[ $mode == test ]]; then
	# A second boot without poll queues: IOPOLL must fall back to interrupts.
	cat > "$bindir/guest-tests.sh" <<'GUEST'
#!/bin/sh
mkdir -p /tmp && cd /tmp
exec /bin/t/nvme_target --only iopoll
GUEST
	echo "=== guest without poll queues (nvme.poll_queues=0)"
	"$here/run.sh" --pollq 0 --timeout 120 "$bindir" || rc=1
fi
exit $rc
