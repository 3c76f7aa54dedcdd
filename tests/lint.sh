#!/bin/bash
# Source checks on lib/ that a test program cannot make at run time:
# every descriptor the library opens is close-on-exec (a descriptor leaked
# into a program the application execs would keep the target or the
# controller open there).  Prints PASS/FAIL lines like the test programs.
set -euo pipefail
cd "$(dirname "$0")/.."

# One C statement per line (calls spanning lines joined), with file:line;
# comments blanked first (their newlines kept, so line numbers hold).
statements() {
	local f
	for f in lib/*.c; do
		perl -0pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse' "$f" |
		awk -v F="$f" '{ if (buf == "") { start = FNR } buf = buf " " $0
		       if ($0 ~ /;[[:space:]]*$/ || $0 ~ /[{}][[:space:]]*$/) {
		           print F ":" start ":" buf; buf = "" } }'
	done
}

fail=0
check() {   # check NAME REGEX-CALL REGEX-REQUIRED
	local name="$1" call="$2" need="$3" bad
	bad=$(statements | grep -E "$call" | grep -vE "$need" || true)
	if [[ -n "$bad" ]]; then
		echo "FAIL: lint: $name: $(echo "$bad" | head -3 | sed 's/[[:space:]]\+/ /g' | cut -c1-200 | tr '\n' ';')"
		fail=1
	else
		echo "PASS: lint: $name"
	fi
}

check "open()/openat() with O_CLOEXEC" '[^_a-z>.](open|openat)\(' 'O_CLOEXEC'
check "fopen() with \"e\" (close-on-exec)" '[^_a-z]fopen\(' 'fopen\([^,]*, *"[a-z+]*e'
check "eventfd() with EFD_CLOEXEC" '[^_a-z]eventfd\(' 'EFD_CLOEXEC'
check "socket() with SOCK_CLOEXEC" '[^_a-z]socket\(' 'SOCK_CLOEXEC'
check "no pipe() (pipe2 with O_CLOEXEC)" '[^_a-z2]pipe\(' '^$'
check "no dup()/dup2() (F_DUPFD_CLOEXEC)" '[^_a-z](dup|dup2)\(' '^$'
check "no getenv() (secure_getenv in a library)" '[^_a-z]getenv\(' '^$'

# The ABI header and the kernel series' uapi header are one file: the new
# include/uapi/linux/io_unified.h of kernel/patches/0001 must be byte for
# byte include/io_unified.h (the same ABI on both sides of the syscall).
uapi_from_patch() {	# the added file's lines, without the leading "+"
	awk '/^diff --git / { on = ($0 ~ / b\/include\/uapi\/linux\/io_unified\.h$/); next }
	     on && /^@@/ { body = 1; next }
	     on && body && /^\+/ { print substr($0, 2) }' "$1"
}
p=$(ls kernel/patches/0001-*.patch 2>/dev/null | head -1 || true)
if [[ -z "$p" ]]; then
	echo "FAIL: lint: kernel/patches/0001-*.patch (the uapi header patch) is missing"
	fail=1
elif cmp -s <(uapi_from_patch "$p") include/io_unified.h; then
	echo "PASS: lint: include/io_unified.h is byte for byte the series' include/uapi/linux/io_unified.h"
else
	echo "FAIL: lint: include/io_unified.h differs from the io_unified.h that $p adds:"
	diff <(uapi_from_patch "$p") include/io_unified.h | head -10
	fail=1
fi

exit $fail
