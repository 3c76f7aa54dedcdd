#!/bin/bash
# The fio ioengine (fio/libunified-fio.c) on the host: real fio 3.33 jobs
# through io_unified on a regular file and (root) a loop block device.
#
#   tests/fio/run.sh [BUILD_DIR]     (default build; builds the plugin with
#                                     fio/build.sh if it is missing)
#
# Every case checks fio's JSON (error 0, bytes moved) or, for the refusals,
# fio's exit status and the engine's message.  Data checks are fio's own
# verify=crc32c, across engines too: written by the plugin and verified by
# fio's psync engine and the other way round, and a block corrupted behind
# fio's back must fail the plugin's verify.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
[[ $build = /* ]] || build=$top/$build
plugin=$build/fio/libunified-fio.so
pass=0 fail=0 skip=0
ok() { echo "PASS: fio: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: fio: $*"; fail=$((fail + 1)); }
skp() { echo "SKIP: fio: $*"; skip=$((skip + 1)); }

if ! command -v fio >/dev/null; then
	echo "FAIL: fio: fio is not installed"; exit 1
fi
if [[ ! -f $plugin || $plugin -ot $top/fio/libunified-fio.c || $plugin -ot $build/lib/libunified.a ]]; then
	"$top/fio/build.sh" "$build" || { echo "FAIL: fio: the plugin does not build"; exit 1; }
fi
# O_DIRECT needs a disk file system, not tmpfs.
work=$(mktemp -d "${UNIFIED_FIO_DIR:-/var/tmp}/unified-fio.XXXXXX")
loopdev=""
cleanup() { [[ -n $loopdev ]] && losetup -d "$loopdev" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
img=$work/ns.img
cd "$work"	# fio leaves verify state files in the current directory
E=(--ioengine="external:$plugin")

# job NAME ARGS...: run fio; its normal and JSON output go to $work/NAME.out
# (then $work/NAME.json is the JSON part), stderr to $work/NAME.log; fio's
# exit status.
job() {
	local name=$1 st
	shift
	# A hung engine must not hang the tier: fio's own watchdog does not
	# kill a job process that spins.
	timeout -k 5 "${UNIFIED_FIO_JOB_TIMEOUT:-120}" \
		fio --name="$name" --output-format=normal,json --output="$work/$name.out" "$@" \
		>"$work/$name.log" 2>&1
	st=$?
	if ((st == 124 || st == 137)); then
		echo "fio job $name timed out" >>"$work/$name.log"
		pkill -9 -f -- "--output=$work/$name.out" 2>/dev/null	# its job processes too
	fi
	sed -n '/^{$/,/^}$/p' "$work/$name.out" >"$work/$name.json"
	cat "$work/$name.out" >>"$work/$name.log"
	return $st
}
# jcheck NAME PYTHON-EXPR: evaluate EXPR with j = the first job's JSON.
jcheck() {
	python3 - "$work/$1.json" "$2" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))["jobs"][0]
except Exception as e:
    print("no JSON: %s" % e); sys.exit(1)
r = j["read"]["io_bytes"]; w = j["write"]["io_bytes"]; t = j["trim"]["io_bytes"]
err = j["error"]
ok = eval(sys.argv[2])
if not ok:
    print("error %d, read %d, write %d, trim %d bytes" % (err, r, w, t))
sys.exit(0 if ok else 1)
EOF
}
why() { grep -v '^ ' "$work/$1.log" | grep -m3 -i "err\|fail\|libunified" | tr '\n' ' '; }

MB=$((32 << 20))
# 1. kick mode: random writes with crc32c, then fio reads every block back.
if job kick_verify "${E[@]}" --filename="$img" --size=32m --rw=randwrite --bs=4k --iodepth=16 \
	--verify=crc32c --do_verify=1 && out=$(jcheck kick_verify "err == 0 and w == $MB and r == $MB"); then
	grep -q "user engine, kick mode" "$work/kick_verify.log" &&
		ok "kick mode: 32 MiB random 4 KiB writes verified with crc32c (8192 blocks read back)" ||
		bad "kick mode: the engine line is missing: $(why kick_verify)"
else
	bad "kick mode verify: $out $(why kick_verify)"
fi
# 2. thread mode, mixed block sizes, depth 32.
if job thread_verify "${E[@]}" --filename="$img" --size=32m --rw=randwrite --bsrange=4k-64k \
	--iodepth=32 --unified_mode=thread --verify=crc32c --do_verify=1 &&
	out=$(jcheck thread_verify "err == 0 and w == $MB and r == w"); then
	grep -q "thread mode" "$work/thread_verify.log" &&
		ok "thread mode: 32 MiB of 4-64 KiB random writes verified" ||
		bad "thread mode not used: $(why thread_verify)"
else
	bad "thread mode verify: $out $(why thread_verify)"
fi
# 3. io_uring's option names: sqthread_poll is thread mode, fixedbufs is implied.
if job iouring_opts "${E[@]}" --filename="$img" --size=4m --rw=randread --bs=4k --iodepth=8 \
	--sqthread_poll --fixedbufs && out=$(jcheck iouring_opts "err == 0 and r == 4 << 20") &&
	grep -q "thread mode" "$work/iouring_opts.log"; then
	ok "sqthread_poll selects thread mode, fixedbufs accepted"
else
	bad "io_uring option names: ${out:-} $(why iouring_opts)"
fi
# 4. Across engines: the plugin's writes verified by psync, psync's by the plugin.
rm -f "$img"
if job x_write "${E[@]}" --filename="$img" --size=16m --rw=randwrite --bs=8k --iodepth=8 \
	--verify=crc32c --do_verify=0 &&
	job x_check --ioengine=psync --direct=1 --filename="$img" --size=16m --rw=randwrite --bs=8k \
	--verify=crc32c --verify_only=1 && out=$(jcheck x_check "err == 0 and r == 16 << 20"); then
	ok "written by the plugin, verified by fio's psync engine (16 MiB)"
else
	bad "plugin -> psync: ${out:-} $(why x_write) $(why x_check)"
fi
rm -f "$img"
if job y_write --ioengine=psync --direct=1 --filename="$img" --size=16m --rw=write --bs=128k \
	--verify=crc32c --do_verify=0 &&
	job y_check "${E[@]}" --filename="$img" --size=16m --rw=write --bs=128k --iodepth=4 \
	--verify=crc32c --verify_only=1 && out=$(jcheck y_check "err == 0 and r == 16 << 20"); then
	ok "written by fio's psync engine, verified by the plugin (16 MiB)"
else
	bad "psync -> plugin: ${out:-} $(why y_write) $(why y_check)"
fi
# 5. A block changed behind fio's back: the plugin's verify must see it.
dd if=/dev/urandom of="$img" bs=4096 seek=1000 count=1 conv=notrunc oflag=direct status=none
if job corrupt "${E[@]}" --filename="$img" --size=16m --rw=write --bs=128k --iodepth=4 \
	--verify=crc32c --verify_only=1; then
	bad "a corrupted block passed verification"
elif grep -q "crc32c: verify failed at file .* offset 4063232" "$work/corrupt.log"; then
	ok "a block corrupted on disk fails verify at its offset (4063232)"
else
	bad "corruption: unexpected failure: $(why corrupt)"
fi
# 6. fsync and fdatasync become NVMe Flush.
if job flush "${E[@]}" --filename="$img" --size=8m --rw=write --bs=64k --iodepth=4 --fsync=4 \
	--fdatasync=8 && out=$(jcheck flush "err == 0 and w == 8 << 20 and j['sync']['lat_ns']['N'] > 0"); then
	ok "fsync/fdatasync as Flush: 8 MiB written, $(python3 -c "import json; print(json.load(open('$work/flush.json'))['jobs'][0]['sync']['lat_ns']['N'])") flushes"
else
	bad "flush: ${out:-} $(why flush)"
fi
# 7. trim is Dataset Management (deallocate): the range reads back as zeros.
tr '\0' '\377' </dev/zero | head -c $((4 << 20)) >"$img"
if job trim "${E[@]}" --filename="$img" --size=4m --rw=trim --bs=64k --iodepth=4 &&
	out=$(jcheck trim "err == 0 and t == 4 << 20") && cmp -s -n $((4 << 20)) "$img" /dev/zero; then
	ok "trim of 4 MiB (64 KiB Dataset Management ranges): the file reads back as zeros"
else
	bad "trim: ${out:-} $(cmp -n $((4 << 20)) "$img" /dev/zero 2>&1) $(why trim)"
fi
# 7b. Trims beside writes.  The range list must not land in fio's write
# buffers (fio reuses them: a pattern written after a trim would carry the
# range entry), and a trim must not overtake the write of the same blocks.
rm -f "$img"
if job trimwrite_pattern "${E[@]}" --filename="$img" --size=1m --rw=trimwrite --bs=4k --iodepth=1 \
	--buffer_pattern=0x5a5a5a5a && out=$(jcheck trimwrite_pattern "err == 0 and w == 1 << 20 and t == 1 << 20") &&
	[[ $(head -c $((1 << 20)) "$img" | tr -d '\132' | wc -c) == 0 ]]; then
	ok "trimwrite with buffer_pattern: 1 MiB reads back as the pattern only (ranges outside fio's buffers)"
else
	bad "trimwrite pattern: ${out:-} $(head -c $((1 << 20)) "$img" | tr -d '\132' | wc -c) foreign bytes $(why trimwrite_pattern)"
fi
if job trimwrite_verify "${E[@]}" --filename="$img" --size=4m --rw=trimwrite --bs=4k --iodepth=8 \
	--verify=pattern --verify_pattern=0x5a && out=$(jcheck trimwrite_verify "err == 0 and w == 4 << 20"); then
	ok "trimwrite at depth 8 with verify=pattern: no trim overtakes a write (trims run alone)"
else
	bad "trimwrite verify: ${out:-} $(why trimwrite_verify)"
fi
# 7c. Latency accounting: the kick is submission time (slat), the rest
# completion time (clat); together they are fio's total latency.
if job latency "${E[@]}" --filename="$img" --size=4m --rw=randread --bs=4k --iodepth=1 --runtime=2 \
	--time_based && out=$(jcheck latency "err == 0 and abs(j['read']['lat_ns']['mean'] - j['read']['slat_ns']['mean'] - j['read']['clat_ns']['mean']) < 0.05 * j['read']['lat_ns']['mean']"); then
	ok "slat + clat = lat within 5% (the kick counted as submission)"
else
	bad "latency accounting: ${out:-} $(python3 -c "import json; r=json.load(open('$work/latency.json'))['jobs'][0]['read']; print('slat', r['slat_ns']['mean'], 'clat', r['clat_ns']['mean'], 'lat', r['lat_ns']['mean'])" 2>&1)"
fi
# 7d. fio frees and re-allocates its I/O memory mid-job when a replayed log
# needs larger buffers: the job must go on in the new region.
{
	echo "fio version 2 iolog"
	echo "$img add"
	echo "$img open"
	for i in $(seq 0 99); do echo "$img read $((i * 4096)) 4096"; done
	for i in $(seq 0 99); do echo "$img read $((i * 65536)) 65536"; done
	echo "$img close"
} >"$work/chunk.log"
truncate -s 16m "$img"
# fio's io_uring engine on the same log says how many bytes fio replays
# (fio 3.33 drops a few I/Os where the chunks change buffer size).
job replay_ref --ioengine=io_uring --direct=1 --filename="$img" --read_iolog="$work/chunk.log" \
	--read_iolog_chunked=1 --iodepth=4
want=$(python3 -c "import json; print(json.load(open('$work/replay_ref.json'))['jobs'][0]['read']['io_bytes'])" 2>/dev/null || echo 0)
if ((want > 4096 * 100)) && job replay "${E[@]}" --filename="$img" --read_iolog="$work/chunk.log" \
	--read_iolog_chunked=1 --iodepth=4 && out=$(jcheck replay "err == 0 and r == $want"); then
	ok "iolog replay that grows the buffers mid-job: $want bytes read, as fio's io_uring engine"
else
	bad "iolog replay: ${out:-} $(why replay)"
fi
# 7e. Threads and several jobs: each job its own context.
if job threads "${E[@]}" --filename="$img" --size=8m --rw=randwrite --bs=4k --iodepth=8 --thread \
	--numjobs=2 --offset_increment=8m --verify=crc32c --do_verify=1 --group_reporting &&
	out=$(jcheck threads "err == 0 and w == 16 << 20 and r == w"); then
	ok "--thread --numjobs=2: two contexts in one process, 16 MiB verified"
else
	bad "threads: ${out:-} $(why threads)"
fi

# 8. Refusals, each with the engine's message and a failing job.
if ! job offload "${E[@]}" --filename="$img" --size=1m --rw=randread --bs=4k --iodepth=4 \
	--io_submit_mode=offload && grep -q "can't be used with offloaded submit" "$work/offload.log"; then
	ok "io_submit_mode=offload: refused by fio at once (FIO_NO_OFFLOAD)"
else
	bad "offload: $(why offload)"
fi
truncate -s 16m "$img"
if ! job two_files "${E[@]}" --filename="$img:$work/other.img" --size=8m --rw=read --bs=4k &&
	grep -q "one file per job" "$work/two_files.log"; then
	ok "two files in a job: refused (one file per job)"
else
	bad "two files: $(why two_files)"
fi
if ! job misaligned "${E[@]}" --filename="$img" --size=1m --rw=read --bs=512 &&
	grep -q "not a whole number of 4096-byte LBAs" "$work/misaligned.log" &&
	grep -q "err=22.*Invalid argument" "$work/misaligned.log"; then
	ok "bs=512 on 4 KiB LBAs: refused (EINVAL) with the reason"
else
	bad "misaligned: $(why misaligned)"
fi
if job lba512 "${E[@]}" --filename="$work/ns512.img" --size=2m --rw=randwrite --bs=512 \
	--unified_lba_size=512 --verify=crc32c --do_verify=1 && out=$(jcheck lba512 "err == 0 and r == w == 2 << 20"); then
	ok "unified_lba_size=512: 512-byte random writes verified"
else
	bad "lba512: ${out:-} $(why lba512)"
fi
if ! job hipri_file "${E[@]}" --filename="$img" --size=1m --rw=read --bs=4k --hipri &&
	grep -q "cannot poll completions\|IOPOLL" "$work/hipri_file.log"; then
	ok "hipri on a regular file: refused with the reason"
else
	bad "hipri on a file: $(why hipri_file)"
fi
# 9. The example job file, with its variables.
if UNIFIED_FIO_PLUGIN=$plugin UNIFIED_FIO_TARGET=$img fio --output-format=json \
	--output="$work/example.json" "$top/examples/fio/verify.fio" >"$work/example.log" 2>&1 &&
	out=$(jcheck example "err == 0 and r > 0 and r == w"); then
	ok "examples/fio/verify.fio runs and verifies"
else
	bad "examples/fio/verify.fio: ${out:-} $(why example)"
fi
# 10. A block device (loop, 512-byte logical blocks), both modes.
if [[ $EUID -ne 0 ]] || ! command -v losetup >/dev/null; then
	skp "loop block device: needs root and losetup"
else
	truncate -s 64m "$work/loop.img"
	if loopdev=$(losetup --find --show --direct-io=on "$work/loop.img" 2>/dev/null ||
		     losetup --find --show "$work/loop.img"); then
		for mode in kick thread; do
			if job "loop_$mode" "${E[@]}" --filename="$loopdev" --size=32m --rw=randwrite \
				--bsrange=512-16k --iodepth=16 --unified_mode=$mode --verify=crc32c \
				--do_verify=1 && out=$(jcheck "loop_$mode" "err == 0 and w == $MB and r == w"); then
				ok "loop block device, $mode mode: 32 MiB of 512 B-16 KiB random writes verified"
			else
				bad "loop $mode: ${out:-} $(why "loop_$mode")"
			fi
		done
	else
		skp "loop block device: losetup failed"
	fi
fi
# 11. make install puts the engine into LIBDIR/fio, make uninstall takes it back.
inst=$work/inst
if make -C "$top" -s install DESTDIR="$inst" PREFIX=/usr BUILD="$build" >"$work/install.log" 2>&1 &&
	cmp -s "$plugin" "$inst/usr/lib/fio/libunified-fio.so" &&
	make -C "$top" -s uninstall DESTDIR="$inst" PREFIX=/usr BUILD="$build" >>"$work/install.log" 2>&1 &&
	[[ ! -e $inst/usr/lib/fio ]]; then
	ok "make install: LIBDIR/fio/libunified-fio.so; make uninstall removes it and the directory"
else
	bad "install of the plugin: $(tail -3 "$work/install.log" | tr '\n' ' ') $(find "$inst" -name '*fio*' 2>/dev/null)"
fi
echo "fio: $pass passed, $fail failed, $skip skipped"
((fail == 0))
