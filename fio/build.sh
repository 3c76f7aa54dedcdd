#!/bin/bash
# Build libunified-fio.so, the fio ioengine, against the source of the fio
# that is installed.  Debian ships no fio headers, so the source comes from
# Debian itself: `apt-get source fio` with a private apt configuration (a
# deb-src entry for the same bookworm archive the machine uses, kept under
# build-deps/apt so /etc/apt is not touched), then fio's ./configure for
# config-host.h.  The plugin links libunified statically (no install
# needed) and refuses to run inside another fio version.
#
#   fio/build.sh [BUILD_DIR]      (default: build; needs BUILD_DIR/lib/libunified.a)
#
# Output: BUILD_DIR/fio/libunified-fio.so.  Environment: FIO_SRC=DIR uses an
# already extracted fio source tree of the same version instead.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[[ $build = /* ]] || build=$top/$build
cc=${CC:-gcc}

die() { echo "fio/build.sh: $*" >&2; exit 1; }
command -v fio >/dev/null || die "fio is not installed (apt-get install fio)"
fver=$(fio --version)			# "fio-3.33": the fio the plugin will run in
ver=${fver#fio-}
[[ -f $build/lib/libunified.a ]] || { echo "fio/build.sh: $build/lib/libunified.a missing: run make first" >&2; exit 1; }

src=${FIO_SRC:-$top/build-deps/fio-$ver}
if [[ ! -f $src/config-host.h ]]; then
	if [[ ! -f $src/ioengines.h ]]; then
		pkgver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null) ||
			die "the fio in PATH ($(command -v fio)) is not Debian's fio package: set FIO_SRC to its source tree"
		[[ ${pkgver%%-*} == "$ver" ]] || die "$(command -v fio) is $fver but Debian's fio package is $pkgver: set FIO_SRC"
		command -v dpkg-source >/dev/null || die "apt-get source needs dpkg-source (apt-get install dpkg-dev)"
		apt_dir=$top/build-deps/apt
		mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
		# deb-src for every deb entry of the system's deb822 sources
		# (same archive, suites and keys), nothing else.
		: > "$apt_dir/sources.list.d/deb-src.sources"
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -f $f ]] || continue
			awk 'BEGIN { RS=""; ORS="\n\n" } /(^|\n)Types:[^\n]*deb([ \n]|$)/ && /deb\.debian\.org|debian/ {
				sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$apt_dir/sources.list.d/deb-src.sources"
		done
		if [[ -f /etc/apt/sources.list ]]; then
			sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list > "$apt_dir/sources.list"
		else
			: > "$apt_dir/sources.list"
		fi
		[[ -s $apt_dir/sources.list.d/deb-src.sources || -s $apt_dir/sources.list ]] || {
			echo "fio/build.sh: no Debian deb entry in /etc/apt to derive a deb-src entry from" >&2; exit 1; }
		aptopts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
			 -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
		echo "fio/build.sh: fetching Debian's fio $pkgver source"
		apt-get "${aptopts[@]}" --error-on=any update -qq ||
			die "cannot read the deb-src index of the Debian archive (network? see above)"
		work=$(mktemp -d "$top/build-deps/fio-src.XXXXXX")
		trap 'rm -rf "$work"' EXIT
		(cd "$work" && apt-get "${aptopts[@]}" source -qq "fio=$pkgver" >/dev/null) ||
			die "apt-get source fio=$pkgver failed"
		rm -rf "$src"
		mv "$work/fio-$ver" "$src"
	fi
	echo "fio/build.sh: configuring fio $ver (for config-host.h)"
	# Debian's configure flags minus gfio and libnbd, which only add
	# engines; the structures an ioengine sees do not depend on them.
	(cd "$src" && ./configure --disable-native --prefix=/usr >"$src/configure.out" 2>&1) || {
		echo "fio/build.sh: fio's configure failed; see $src/configure.out" >&2; exit 1; }
fi
grep -q "^#define FIO_IOOPS_VERSION" "$src/ioengines.h" || die "$src has no ioengines.h: not fio's source"
# The version the source says, which must be the fio the plugin runs in:
# the plugin's runtime check compares it with fio_version_string.
srcver=$(sed -n 's/^DEF_VER=//p' "$src/FIO-VERSION-GEN")
[[ $srcver == "$fver" ]] || die "$src is $srcver, the installed fio is $fver: the ioengine ABI would not match"

mkdir -p "$build/fio"
libs=$(pkg-config --libs liburing)
if nm "$build/lib/libunified.a" 2>/dev/null | grep -q " U xsk_"; then
	libs="$libs $(pkg-config --libs libxdp libbpf)"
fi
# fio's own compile flags for code that sees its structures
# (Makefile: CPPFLAGS, -include config-host.h, FIO_INC_DEBUG).
$cc -std=gnu11 -O2 -g -fPIC -shared -Wall -Wextra -Werror -Wno-sign-compare \
	-Wno-unused-parameter -Wno-missing-field-initializers \
	-D_GNU_SOURCE -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64 -DFIO_INTERNAL -DFIO_INC_DEBUG \
	-DFIO_BUILD_VERSION="\"$srcver\"" -include "$src/config-host.h" -I"$src" -I"$top/include" \
	-o "$build/fio/libunified-fio.so" "$top/fio/libunified-fio.c" \
	"$build/lib/libunified.a" $libs -lpthread
echo "fio/build.sh: $build/fio/libunified-fio.so (fio $ver)"
