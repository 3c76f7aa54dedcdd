# shellcheck shell=bash disable=SC2034 # the constants are used by the scripts that source it
# Sourced by tests/abi_check.sh and scripts/abi-update.sh (bash): how the
# ABI descriptions are made, so the stored baselines (abi/) and the checks
# always use exactly the same commands.  docs/abi.md explains the checks.

# abidw: only the types of the public headers (--headers-dir with
# --drop-private-types; an opaque struct such as unified_ctx stays a
# declaration), no path, line number or build directory of this machine, no
# DT_NEEDED (that depends on whether the build found libxdp, not on the
# ABI), no undefined (libc) symbols, and type ids that are hashes of the
# types, so a regenerated baseline changes only where the ABI changed.
ABIDW_OPTS=(--drop-private-types --no-corpus-path --no-comp-dir-path --no-show-locs
	    --no-elf-needed --drop-undefined-syms --type-id-style hash)

# abidiff exit status bits (libabigail's abidiff(1)).
ABIDIFF_ERROR=1
ABIDIFF_USAGE_ERROR=2
ABIDIFF_ABI_CHANGE=4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE=8

# abi_dump SO INCLUDE_DIR OUT: the library's ABI as abixml.
abi_dump() {
	abidw --headers-dir "$2" "${ABIDW_OPTS[@]}" --out-file "$3" "$1"
}

# abi_type_names INCLUDE_DIR: every struct and enum the two public headers
# define, in the headers' order.  The pahole check covers each of them, so
# a struct added to a header is checked (tests/abi/layout_types.c must name
# it, else the check fails and says so).
abi_type_names() {
	sed -nE 's/^(struct|enum) ([A-Za-z_][A-Za-z0-9_]*) \{.*/\2/p' "$1/io_unified.h" "$1/libunified.h"
}

# abi_pahole INCLUDE_DIR LAYOUT_C WORKDIR OUT: compile LAYOUT_C (never
# linked) against INCLUDE_DIR with -g and print the layout of every type of
# abi_type_names with pahole, one after the other, into OUT.  Returns 1 and
# names the types pahole did not find (not referenced by LAYOUT_C).
abi_pahole() {
	local inc="$1" src="$2" work="$3" out="$4" obj name text missing=()
	obj="$work/layout_types.o"
	# -O0: nothing is optimised away; layouts do not depend on it anyway.
	# The compiler is the one the library is built with (gcc by default).
	# shellcheck disable=SC2086 # CC may be "ccache gcc"
	${CC:-gcc} -std=gnu11 -D_GNU_SOURCE -I"$inc" -g -O0 -c -o "$obj" "$src" || return 1
	: >"$out"
	while read -r name; do
		text=$(pahole -C "$name" "$obj" 2>/dev/null) || text=
		if [[ -z "$text" ]]; then
			missing+=("$name")
			continue
		fi
		# Nothing in pahole's layout output names a path; strip trailing
		# blanks and the source directory anyway, so the file can never
		# depend on where the tree or the compiler lives.
		# One blank line between two types.
		[[ -s "$out" ]] && echo >>"$out"
		printf '%s\n' "$text" | sed -e 's/[[:space:]]*$//' -e "s|$inc/||g" >>"$out"
	done < <(abi_type_names "$inc")
	if ((${#missing[@]})); then
		echo "types not in $(basename "$src"): ${missing[*]}" >&2
		return 1
	fi
	return 0
}

# abi_build SRC BUILD LOG: build the shared library of the tree SRC into
# BUILD with the Makefile's default flags (none of the caller's CFLAGS,
# nor the jobserver of a make that runs us).  Prints the library's path.
abi_build() {
	local src="$1" build="$2" log="$3"
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$src" -j"${MAKE_JOBS:-2}" BUILD="$build" lib >"$log" 2>&1 || return 1
	echo "$build/lib/libunified.so.0"
}
