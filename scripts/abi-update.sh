#!/bin/bash
# Rewrite the ABI baselines that tests/abi_check.sh compares against, on
# purpose: run it when a change to the ABI is intended, and commit abi/
# with that change, so the change is a visible diff in review (docs/abi.md).
#
#   scripts/abi-update.sh [LIBRARY]
#
# Without LIBRARY, builds the library from this tree with the Makefile's
# default flags (-g -O2) into a temporary directory first, so the baseline
# never depends on a stale build/ or on the caller's CFLAGS.  Writes
#   abi/libunified.abi     abidw's description of the shared library
#   abi/io_unified.pahole  pahole's layouts of the public structs and enums
# then shows `git diff --stat abi/`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/abi/common.sh
. "$root/tests/abi/common.sh"

for t in abidw pahole; do
	command -v "$t" >/dev/null || {
		echo "abi-update: $t not found (Debian: abigail-tools, dwarves; scripts/deps.sh)" >&2
		exit 1
	}
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/abi-update.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if (($#)); then
	so="$1"
else
	echo "abi-update: building the library (make BUILD=$tmp/build lib)"
	so=$(abi_build "$root" "$tmp/build" "$tmp/make.log") || { tail -n 40 "$tmp/make.log" >&2; exit 1; }
fi
mkdir -p "$root/abi"
abi_dump "$so" "$root/include" "$root/abi/libunified.abi"
abi_pahole "$root/include" "$root/tests/abi/layout_types.c" "$tmp" "$root/abi/io_unified.pahole"
echo "abi-update: wrote abi/libunified.abi ($(grep -c '<elf-symbol ' "$root/abi/libunified.abi") exported functions)" \
	"and abi/io_unified.pahole ($(abi_type_names "$root/include" | wc -l) structs and enums)"
git -C "$root" diff --stat -- abi/ || true
