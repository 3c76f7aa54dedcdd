#!/bin/bash
# The main job: build, then benchmark the io_unified user engine against raw
# liburing, side by side in one run, on the embedded default namespace (a
# sparse file-backed namespace; pass --target /dev/ngXnY or a block device
# to use real hardware).  Extra arguments go to unified-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -j"$(nproc)" all >/dev/null
exec build/tools/unified-bench --prefill --baseline --rw randread --bs 4k --qd 32 --runtime 5 --interleave 10 "$@"
