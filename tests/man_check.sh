#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The man pages: one for every exported function and every tool, links that
# lead somewhere, pages that render without a warning, and the sections a
# reader expects.
#
# Usage: tests/man_check.sh [path/to/libunified.so]
#   The library defaults to build/lib/libunified.so (made by `make lib`);
#   without it the symbol check falls back to lib/libunified.map and says so.
# Output: PASS: man: / FAIL: man: / SKIP: man: lines; exit status 1 on any FAIL.
set -euo pipefail

cd "$(dirname "$0")/.."
lib_arg=${1:-}
lib=${lib_arg:-build/lib/libunified.so}
fail=0

pass() { echo "PASS: man: $*"; }
failed() { echo "FAIL: man: $*"; fail=1; }
skip() { echo "SKIP: man: $*"; }

# A link page is liburing's kind: one line, `.so manN/page.N`.
is_link() { head -n 1 "$1" | grep -q '^\.so '; }
link_target() { sed -n '1s/^\.so[[:space:]]*//p' "$1"; }
# A page's own text: the page itself, or the page a link leads to.
resolve() { if is_link "$1"; then echo "man/$(link_target "$1")"; else echo "$1"; fi; }

shopt -s nullglob
pages=(man/man1/*.1 man/man3/*.3 man/man7/*.7)
if ((${#pages[@]} == 0)); then
	failed "no man pages under man/"
	exit 1
fi

# ---------------------------------------------------------------- coverage
# Every symbol the shared library exports (GLOBAL, defined, without the
# @@VERSION tail and without the version nodes themselves) has its page.
symbols=""
if ! command -v readelf >/dev/null; then
	skip "exported symbols: readelf not installed"
elif [[ ! -e "$lib" ]]; then
	if [[ -n "$lib_arg" ]]; then
		failed "exported symbols: no shared library at $lib"
	else
		skip "exported symbols: $lib not built (make lib); checking lib/libunified.map instead"
	fi
else
	symbols=$(readelf --dyn-syms -W "$(readlink -f "$lib")" |
		awk '$5 == "GLOBAL" && $7 != "UND" && $7 != "ABS" { sub(/@.*/, "", $8); print $8 }' |
		sort -u)
	if [[ -z "$symbols" ]]; then
		failed "exported symbols: readelf found none in $lib"
	fi
fi
if [[ -z "$symbols" ]]; then
	symbols=$(sed -n 's/^[[:space:]]*\(unified_[a-z0-9_]*\);.*/\1/p' lib/libunified.map | sort -u)
fi
# need_pages WHAT SECTION NAME...: a man/manSECTION/NAME.SECTION for each.
need_pages() {
	local what=$1 sec=$2 name missing="" n=0
	shift 2
	for name in "$@"; do
		n=$((n + 1))
		[[ -f "man/man$sec/$name.$sec" ]] || missing="$missing $name.$sec"
	done
	if [[ -n "$missing" ]]; then
		failed "$what without a page:$missing"
	else
		pass "all $n $what have a section $sec page"
	fi
}
# shellcheck disable=SC2086	# word lists
need_pages "exported functions" 3 $symbols

# Every inline helper of the public header has a page too.
# shellcheck disable=SC2046
need_pages "inline helpers of libunified.h" 3 \
	$(sed -n 's/^UNIFIED_INLINE [^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' include/libunified.h | sort -u)

# Every ABI structure of io_unified.h has a page (a link to io_unified(7)).
# shellcheck disable=SC2046
need_pages "ABI structures of io_unified.h" 3 \
	$(sed -n 's/^struct \(io_unified_[a-z0-9_]*\) {.*/\1/p' include/io_unified.h | sort -u)

tools=()
for t in tools/*.c; do
	t=${t#tools/}
	tools+=("${t%.c}")
done
need_pages tools 1 "${tools[@]}"

# ---------------------------------------------------------------- links
# A link is one line, leads to a page that exists and is not a link itself,
# and that page's NAME line lists the link's name (or, for a section 7
# overview, mentions it), so `man name` lands where the name is explained.
bad=""
nlinks=0
for p in "${pages[@]}"; do
	is_link "$p" || continue
	nlinks=$((nlinks + 1))
	t=$(link_target "$p")
	name=$(basename "$p")
	name=${name%.*}
	if [[ $(grep -cv '^[[:space:]]*$' "$p") != 1 ]]; then
		bad="$bad $p(more than the .so line)"
	elif [[ ! -f "man/$t" ]]; then
		bad="$bad $p(target man/$t missing)"
	elif is_link "man/$t"; then
		bad="$bad $p(target man/$t is a link)"
	elif [[ "$t" == man7/* ]]; then
		grep -q "$name" "man/$t" || bad="$bad $p(man/$t never names $name)"
	elif ! sed -n '/^\.SH NAME/,/^\.SH/p' "man/$t" | sed 's/\\-/-/g' |
		grep -Eq "(^|[ ,])$name(,|[[:space:]]|$)"; then
		bad="$bad $p(NAME of man/$t lacks $name)"
	fi
done
if [[ -n "$bad" ]]; then
	failed ".so links:$bad"
else
	pass "all $nlinks .so links lead to a page that covers them"
fi

# ---------------------------------------------------------------- rendering
# mandoc's WARNING level (STYLE excluded) on every page with text; a link
# page draws ".so is fragile" by design (liburing's layout), so links are
# linted through their target, which the loop covers anyway.
# render WHAT LINKS-TOO COMMAND...: run COMMAND on each page from man/ (so
# .so resolves, in C.UTF-8); any output is a failure.
render() {
	local what=$1 links=$2 p w out="" n=0
	shift 2
	if ! command -v "$1" >/dev/null; then
		skip "$what: $1 not installed"
		return
	fi
	for p in "${pages[@]}"; do
		[[ $links == 1 ]] || ! is_link "$p" || continue
		n=$((n + 1))
		w=$(cd man && { LC_ALL=C.UTF-8 "$@" "${p#man/}" 2>&1 || true; })
		[[ -z "$w" ]] || out+="$p: $w"$'\n'
	done
	if [[ -n "$out" ]]; then
		failed "$what: $(echo "$out" | head -5 | tr '\n' ';')"
	else
		pass "$what: $n pages clean"
	fi
}
render "mandoc -T lint -W warning" 0 mandoc -T lint -W warning
# groff with every warning, links included (groff follows .so from man/).
render "LC_ALL=C.UTF-8 groff -man -Tutf8 -ww" 1 groff -man -Tutf8 -ww -z

# ---------------------------------------------------------------- sections
has_sh() { grep -Eq "^\.SH \"?$2\"?[[:space:]]*$" "$1"; }
need_sections() {	# page, sections...
	local p=$1 s missing=""
	shift
	for s in "$@"; do
		has_sh "$p" "$s" || missing="$missing '$s'"
	done
	[[ -z "$missing" ]] || bad="$bad $p(no$missing)"
}
exported_int=$(sed -n 's/^int \(unified_[a-z0-9_]*\)(.*/\1/p' include/libunified.h | sort -u)
bad=""
n=0
for p in man/man3/*.3; do
	is_link "$p" && continue
	n=$((n + 1))
	need_sections "$p" NAME SYNOPSIS DESCRIPTION "RETURN VALUE" "SEE ALSO"
	[[ "$p" == man/man3/libunified.3 ]] && continue
	# ERRORS: when the page names a negative errno, or documents a
	# function of the library that returns int (they all return -errno).
	needs=""
	grep -q '\\-E[A-Z2]' "$p" && needs=1
	syn=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$p")
	for f in $exported_int; do
		grep -q "int $f(" <<<"$syn" && needs=1
	done
	[[ -z "$needs" ]] || need_sections "$p" ERRORS
done
for p in man/man7/*.7; do
	n=$((n + 1))
	need_sections "$p" NAME DESCRIPTION "SEE ALSO"
done
for p in man/man1/*.1; do
	n=$((n + 1))
	need_sections "$p" NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "SEE ALSO"
done
if [[ -n "$bad" ]]; then
	failed "sections:$bad"
else
	pass "sections: $n pages have theirs (section 3: NAME SYNOPSIS DESCRIPTION RETURN VALUE [ERRORS] SEE ALSO)"
fi

# ---------------------------------------------------------------- synopses
# The SYNOPSIS of each function's page holds the header's prototype (spaces
# and roff fonts aside; an inline helper without its UNIFIED_INLINE).
protos=$(awk '
	/^(UNIFIED_INLINE |)[a-z][a-z0-9_ ]*[ *]unified_[a-z0-9_]*\(/ { on = 1; buf = "" }
	on { buf = buf " " $0
	     if ($0 ~ /[;{][[:space:]]*$/ || $0 ~ /\)[[:space:]]*$/ && $0 !~ /,[[:space:]]*$/) {
		sub(/^ *UNIFIED_INLINE /, "", buf); sub(/[[:space:]]*\{?[[:space:]]*$/, "", buf)
		sub(/;$/, "", buf); gsub(/[[:space:]]+/, "", buf); print buf; on = 0 } }
	' include/libunified.h)
bad=""
n=0
while read -r proto; do
	[[ -n "$proto" ]] || continue
	f=$(grep -o 'unified_[a-z0-9_]*(' <<<"$proto" | head -1 | tr -d '(')
	page="man/man3/$f.3"
	[[ -f "$page" ]] || continue	# reported above
	text=$(resolve "$page")
	[[ -f "$text" ]] || continue
	n=$((n + 1))
	syn=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$text" | grep -v '^\.SH' |
		sed -E 's/^\.(BI|B|IR|BR|RB|I) //; s/\\f[BIRP]//g; s/\\-/-/g; s/"//g' | tr -d ' \t\n')
	grep -qF -- "$proto;" <<<"$syn" || bad="$bad $f"
done <<<"$protos"
if [[ -n "$bad" ]]; then
	failed "SYNOPSIS differs from include/libunified.h for:$bad"
elif ((n == 0)); then
	failed "SYNOPSIS: no prototype found in include/libunified.h"
else
	pass "SYNOPSIS: $n prototypes match include/libunified.h"
fi

# The release in every page's header (.TH ... "libunified X.Y") is the
# Makefile's VERSION.
ver=$(make -s --no-print-directory print-version 2>/dev/null)
ver=${ver%.*}
stale=""
for f in "${pages[@]}"; do
	is_link "$f" && continue
	grep -q "^\.TH .*\"libunified $ver\"" "$f" || stale="$stale $f"
done
if [[ -z "$ver" ]]; then
	failed "version: make print-version gave nothing"
elif [[ -n "$stale" ]]; then
	failed "version: not \"libunified $ver\" (the Makefile's VERSION) in .TH of:$stale"
else
	pass "version: every page's .TH says libunified $ver"
fi

exit $fail
