#!/bin/bash
# The whole test suite from a fresh Debian 12 machine: install what is
# needed, build everything (plus ASan/UBSan and TSan variants), run every
# tier (unit, target on file and loop device, examples, sanitizers, fuzz,
# libFuzzer harnesses, QEMU NVMe guest).  Ends with "N passed, N failed,
# N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
exec tests/run.sh "$@"
