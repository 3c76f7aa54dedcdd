#!/bin/bash
# ABI stability of libunified (docs/abi.md).  Builds nothing in the default
# mode; prints "PASS: abi: ...", "FAIL: abi: ..." or "SKIP: abi: ..." lines
# (SKIP only when abidw/abidiff or pahole are missing) and exits non-zero on
# any FAIL.
#
#   tests/abi_check.sh [LIBRARY]
#       LIBRARY (default build/lib/libunified.so.0, what `make` builds):
#       1. abidw's description of it against abi/libunified.abi: FAIL when
#          abidiff finds an incompatible change (exit bit 8) or any other
#          ABI change (bit 4: a changed type or signature, an added function)
#          that the baseline does not hold;
#       2. pahole's layouts of every struct and enum of include/io_unified.h
#          and include/libunified.h (tests/abi/layout_types.c compiled with
#          -g, not linked) against abi/io_unified.pahole, byte for byte.
#   tests/abi_check.sh --self-test
#       Proves both checks can fail: copies include/, lib/, the Makefile into
#       a temporary directory, builds the library there (the Makefile's
#       default flags, without XDP) and breaks it on purpose: a removed
#       exported function, a changed parameter type, an added function, a
#       moved field of a public struct, a moved field of a shared-memory
#       struct.  Each must be reported by its check.  About 5 s here.
#
# An intended ABI change: scripts/abi-update.sh rewrites abi/, to be
# committed with the change.
# shellcheck disable=SC2016 # the self-test's breaks are perl expressions ($1...)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/abi/common.sh
. "$root/tests/abi/common.sh"

BASE_ABI="$root/abi/libunified.abi"
BASE_PAHOLE="$root/abi/io_unified.pahole"
UPDATE_HINT="if the change is intended, run scripts/abi-update.sh and commit abi/ with it (docs/abi.md: a new function goes in a new version node of lib/libunified.map; an incompatible change bumps SOVERSION)"

usage() { sed -n '2,/^# shellcheck/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

selftest=0
lib=
while (($#)); do
	case "$1" in
	--self-test) selftest=1 ;;
	-h|--help) usage 0 ;;
	-*) echo "abi_check.sh: unknown option '$1'" >&2; usage 2 ;;
	*) [[ -z "$lib" ]] || { echo "abi_check.sh: one library only" >&2; usage 2; }
	   lib="$1" ;;
	esac
	shift
done

fails=0
pass() { echo "PASS: abi: $*"; }
fail() { echo "FAIL: abi: $*"; fails=$((fails + 1)); }
skip() { echo "SKIP: abi: $*"; }
indent() { sed 's/^/    /'; }

have_abigail=1 have_pahole=1
command -v abidw >/dev/null && command -v abidiff >/dev/null || have_abigail=0
command -v pahole >/dev/null || have_pahole=0

tmp="$(mktemp -d "${TMPDIR:-/tmp}/abi-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# compare_abi BASELINE NEW: abidiff the two abixml files; prints the report
# (indented) when they differ.  Returns abidiff's exit status.
compare_abi() {
	local st
	abidiff "$1" "$2" >"$tmp/abidiff.out" 2>&1
	st=$?
	((st == 0)) || indent <"$tmp/abidiff.out"
	return $st
}

# verdict_abi STATUS WHAT: one PASS or FAIL line for an abidiff status.
verdict_abi() {
	local st="$1" what="$2"
	if ((st == 0)); then
		pass "$what: no ABI change"
	elif ((st & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR))); then
		fail "$what: abidiff could not compare (exit status $st)"
	elif ((st & ABIDIFF_ABI_INCOMPATIBLE_CHANGE)); then
		fail "$what: INCOMPATIBLE ABI change (abidiff exit status $st, above); $UPDATE_HINT"
	else
		fail "$what: ABI change not in the baseline (abidiff exit status $st, above); $UPDATE_HINT"
	fi
}

# compare_pahole BASELINE NEW: byte for byte; prints the diff when they differ.
compare_pahole() {
	if cmp -s "$1" "$2"; then
		return 0
	fi
	diff -u --label "$(basename "$1") (baseline)" --label "pahole now" "$1" "$2" | indent
	return 1
}

# ------------------------------------------------------------------ check

check() {
	local so="${lib:-$root/build/lib/libunified.so.0}" st nfun ntypes
	if ((have_abigail)); then
		if [[ ! -f "$so" ]]; then
			fail "libabigail: $so does not exist (build it first: make lib)"
		elif [[ ! -f "$BASE_ABI" ]]; then
			fail "libabigail: no baseline ${BASE_ABI#"$root"/} (scripts/abi-update.sh makes it)"
		elif ! abi_dump "$so" "$root/include" "$tmp/now.abi" 2>"$tmp/abidw.err"; then
			indent <"$tmp/abidw.err"
			fail "libabigail: abidw could not read $so"
		else
			compare_abi "$BASE_ABI" "$tmp/now.abi"
			st=$?
			nfun=$(grep -c '<elf-symbol ' "$tmp/now.abi")
			verdict_abi "$st" "abidiff ${so#"$root"/} ($nfun exported functions) against ${BASE_ABI#"$root"/}"
		fi
	else
		skip "libabigail: abidw or abidiff not found (Debian: abigail-tools; scripts/deps.sh installs it)"
	fi

	if ((have_pahole)); then
		if [[ ! -f "$BASE_PAHOLE" ]]; then
			fail "pahole: no baseline ${BASE_PAHOLE#"$root"/} (scripts/abi-update.sh makes it)"
		elif ! abi_pahole "$root/include" "$root/tests/abi/layout_types.c" "$tmp" "$tmp/now.pahole" \
			2>"$tmp/pahole.err"; then
			indent <"$tmp/pahole.err"
			fail "pahole: could not describe every struct and enum of include/ (a new one belongs in tests/abi/layout_types.c)"
		elif compare_pahole "$BASE_PAHOLE" "$tmp/now.pahole"; then
			ntypes=$(abi_type_names "$root/include" | wc -l)
			pass "pahole: the layouts of the $ntypes structs and enums of include/io_unified.h and include/libunified.h match ${BASE_PAHOLE#"$root"/}"
		else
			fail "pahole: struct layouts of include/ differ from ${BASE_PAHOLE#"$root"/} (diff above); $UPDATE_HINT"
		fi
	else
		skip "pahole: pahole not found (Debian: dwarves; scripts/deps.sh installs it)"
	fi
}

# -------------------------------------------------------------- self-test

# edit FILE PERL-EXPR: apply a break to the copy; the self-test fails (it
# would prove nothing) when the expression no longer matches the sources.
edit() {
	local f="$1" expr="$2"
	cp "$f" "$f.orig"
	perl -0pi -e "$expr" "$f"
	if cmp -s "$f" "$f.orig"; then
		fail "self-test: the break '$expr' no longer applies to ${f#"$tmp/src/"}; update tests/abi_check.sh"
		return 1
	fi
}
# restore FILES...: undo the break; touched, so make rebuilds what used it
# (the saved copy is older than the objects the break produced).
restore() { local f; for f in "$@"; do mv "$f.orig" "$f" && touch "$f"; done; }

# st_abi NAME WANT-BIT FILES...: rebuild the broken copy, abidiff it against
# the pristine copy's ABI; PASS when the check fails with WANT-BIT set.
st_abi() {
	local name="$1" want="$2" so st verdict
	shift 2
	echo "--- self-test: $name"
	if ! so=$(abi_build "$tmp/src" "$tmp/build" "$tmp/make.log"); then
		tail -n 20 "$tmp/make.log" | indent
		fail "self-test: $name: the broken copy did not build"
		restore "$@"
		return
	fi
	abi_dump "$so" "$tmp/src/include" "$tmp/broken.abi"
	compare_abi "$tmp/pristine.abi" "$tmp/broken.abi"
	st=$?
	# What the check itself would conclude (indented: not a result line here).
	verdict=$(verdict_abi "$st" "abidiff" 2>&1)
	echo "    the check would say: $verdict"
	if ((st & want)) && ! ((st & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR))) &&
		[[ "$verdict" == "FAIL: abi: "* ]]; then
		pass "self-test: $name: abidiff reports it (exit status $st, bit $want set): the check fails"
	else
		fail "self-test: $name: abidiff exit status $st, expected bit $want: the check would not catch it"
	fi
	restore "$@"
}

self_test() {
	local so st f
	if ((!have_abigail)) || ((!have_pahole)); then
		((have_abigail)) || skip "self-test: abidw or abidiff not found (Debian: abigail-tools)"
		((have_pahole)) || skip "self-test: pahole not found (Debian: dwarves)"
		return
	fi
	mkdir -p "$tmp/src"
	cp -r "$root/include" "$root/lib" "$root/Makefile" "$root/libunified.pc.in" "$tmp/src/"
	rm -rf "$tmp/src/lib/"*.o "$tmp/src/lib/"*.d
	export NO_XDP=1	# the BPF program changes nothing in the ABI; faster
	echo "--- self-test: the pristine copy (the self-test's baseline)"
	if ! so=$(abi_build "$tmp/src" "$tmp/build" "$tmp/make.log"); then
		tail -n 20 "$tmp/make.log" | indent
		fail "self-test: the pristine copy did not build"
		return
	fi
	abi_dump "$so" "$tmp/src/include" "$tmp/pristine.abi"
	abi_dump "$so" "$tmp/src/include" "$tmp/again.abi"
	compare_abi "$tmp/pristine.abi" "$tmp/again.abi"
	st=$?
	if ((st == 0)); then
		pass "self-test: the pristine copy: abidw gives the same ABI twice (the self-test's baseline)"
	else
		fail "self-test: the pristine copy differs from itself (abidiff exit status $st)"
		return
	fi

	# 1. An exported function removed (from the version script, so it is
	#    local now): an incompatible change.
	f="$tmp/src/lib/libunified.map"
	edit "$f" 's/^\s*unified_buf_count;\n//m' &&
		st_abi "removed exported function unified_buf_count" "$ABIDIFF_ABI_INCOMPATIBLE_CHANGE" "$f"

	# 2. A parameter type changed (int timeout_ms -> long): an ABI change
	#    abidiff does not call incompatible (no symbol went away), which
	#    the check fails on all the same.
	if edit "$tmp/src/include/libunified.h" \
		's/(int unified_enter\(struct unified_ctx \*ctx, uint32_t min_complete, )int timeout_ms/${1}long timeout_ms/'; then
		if edit "$tmp/src/lib/enter.c" \
			's/(int unified_enter\(struct unified_ctx \*ctx, uint32_t min_complete, )int timeout_ms/${1}long timeout_ms/'; then
			st_abi "changed parameter type (unified_enter: int timeout_ms -> long)" "$ABIDIFF_ABI_CHANGE" \
				"$tmp/src/include/libunified.h" "$tmp/src/lib/enter.c"
		else
			restore "$tmp/src/include/libunified.h"
		fi
	fi

	# 3. A function added but the baseline not updated: an ABI change too.
	f="$tmp/src/lib/register.c"
	edit "$f" 's/\z/\nUNIFIED_EXPORT int unified_abi_selftest_added(void);\nUNIFIED_EXPORT int unified_abi_selftest_added(void) { return 0; }\n/' &&
		edit "$tmp/src/lib/libunified.map" 's/\z/\nLIBUNIFIED_SELFTEST {\n\tglobal:\n\t\tunified_abi_selftest_added;\n};\n/' &&
		st_abi "added exported function unified_abi_selftest_added, baseline not updated" "$ABIDIFF_ABI_CHANGE" \
			"$f" "$tmp/src/lib/libunified.map"
	[[ -f "$f.orig" ]] && restore "$f"

	# 4. The first field of a public struct moved to its end (unified_stats,
	#    filled by unified_get_stats()): seen by abidiff through the
	#    function's signature.
	f="$tmp/src/include/libunified.h"
	edit "$f" 's/(struct unified_stats \{\n)([^\n]*\n)((?:[^\n]*\n)*?)(\};)/$1$3$2$4/' &&
		st_abi "moved field of a public struct (unified_stats.sqes to the end)" "$ABIDIFF_ABI_CHANGE" "$f"

	# 5. A field of a shared-memory struct moved: nothing the library
	#    exports names io_unified_cqe (the rings are void * to abidw), so
	#    this is pahole's to catch.  The library is not built (the
	#    compile-time asserts of lib/abi_asserts.h would stop it), only
	#    tests/abi/layout_types.c against the header.
	echo "--- self-test: moved field of a shared-memory struct (io_unified_cqe.user_data to the end)"
	if abi_pahole "$tmp/src/include" "$root/tests/abi/layout_types.c" "$tmp" "$tmp/pristine.pahole"; then
		f="$tmp/src/include/io_unified.h"
		if edit "$f" 's/(struct io_unified_cqe \{\n)([^\n]*\n)((?:[^\n]*\n)*?)(\};)/$1$3$2$4/'; then
			abi_pahole "$tmp/src/include" "$root/tests/abi/layout_types.c" "$tmp" "$tmp/broken.pahole"
			if ! compare_pahole "$tmp/pristine.pahole" "$tmp/broken.pahole"; then
				if grep -q 'user_data' <(diff "$tmp/pristine.pahole" "$tmp/broken.pahole"); then
					pass "self-test: moved field of io_unified_cqe: the pahole comparison reports it: the check fails"
				else
					fail "self-test: moved field of io_unified_cqe: pahole's output differs, but not in user_data"
				fi
			else
				fail "self-test: moved field of io_unified_cqe: pahole's layouts are unchanged: the check would not catch it"
			fi
			restore "$f"
		fi
	else
		fail "self-test: pahole could not describe the pristine copy's types"
	fi
}

if ((selftest)); then
	self_test
else
	check
fi
((fails == 0))
