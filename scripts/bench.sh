#!/bin/bash
# The storage benchmark (the main job before unified-ingest): build, then
# benchmark the io_unified user engine against raw liburing, side by side in one run, on the embedded default namespace (a
# sparse file-backed namespace; pass --target /dev/ngXnY or a block device
# to use real hardware).  Extra arguments go to unified-bench.
#
# Kick or thread mode (docs/benchmarks.md, issue 7; README "Kick or thread
# mode"): this runs kick mode, the default, where the application's thread
# runs the engine: 1.00x of liburing on a disk, 0.89x when the device is
# free (a sparse file).  Add `--mode thread` for an engine thread: the
# application thread then pays 0.17 us of CPU per I/O against liburing's
# 2.34 us on a disk (QD 32) at 1.0x throughput, but reaches 0.79x when the
# device is free.  Pick thread mode when a core is spare and the device has
# real latency, kick mode otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -j"$(nproc)" all >/dev/null
case " $* " in
*" --mode "* | *" --mode="*) ;;
*) echo "kick mode (the default); add --mode thread for an engine thread: see README, \"Kick or thread mode\"" >&2 ;;
esac
exec build/tools/unified-bench --prefill --baseline --rw randread --bs 4k --qd 32 --runtime 5 --interleave 10 "$@"
