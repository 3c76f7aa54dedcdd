#!/bin/bash
# Install libunified into a scratch DESTDIR and use it the way a user would:
# pkg-config flags, the shared library, the versioned symbol map.
#   tests/install_check.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: install_check.sh DIR}"
rm -rf "$dest"
mkdir -p "$dest"
make -C "$root" -s install DESTDIR="$dest" PREFIX=/usr >/dev/null
lib="$dest/usr/lib"
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
ver=$(pkg-config --modversion libunified)
echo "pkg-config: libunified $ver, cflags '$(pkg-config --cflags libunified)', libs '$(pkg-config --libs libunified)'"
for f in man1/unified-bench.1 man1/unified-netbench.1 man3/libunified.3 man3/unified_register.3 \
	 man3/unified_net_listen.3; do
	[[ -f "$dest/usr/share/man/$f" ]] || { echo "missing man page $f"; exit 1; }
done
for f in io_unified.h libunified.h; do
	[[ -f "$dest/usr/include/$f" ]] || { echo "missing header $f"; exit 1; }
done
[[ -f "$lib/libunified.a" && -L "$lib/libunified.so" && -L "$lib/libunified.so.0" ]] || {
	echo "missing library files"; ls -l "$lib"; exit 1; }
# Every exported function carries the version node, nothing else leaks out.
exported=$(readelf --dyn-syms -W "$lib/libunified.so.0" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' | grep -v '^LIBUNIFIED_' || true)
bad=$(echo "$exported" | grep -v '^unified_.*@@LIBUNIFIED_0\.[123]$' || true)
if [[ -n "$bad" ]]; then
	echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
# ... and every function the sources mark UNIFIED_EXPORT is among them.
missing=$(sed -n 's/^UNIFIED_EXPORT [^(]*[ *]\(unified_[a-z0-9_]*\)(.*/\1/p' "$root"/lib/*.c | sort -u |
	while read -r f; do echo "$exported" | grep -q "^$f@@" || echo "$f"; done)
if [[ -n "$missing" ]]; then
	echo "public functions missing from lib/libunified.map:"; echo "$missing"; exit 1
fi
echo "exported: $(echo "$exported" | wc -l) functions, all unified_*@@LIBUNIFIED_0.1, 0.2 or 0.3"
for ex in seed_flow net_to_nvme; do
	gcc -std=gnu11 -Wall -Wextra -Werror $(pkg-config --cflags libunified) -o "$dest/$ex" \
		"$root/examples/$ex.c" $(pkg-config --libs libunified) -luring -lpthread
done
ldd "$dest/seed_flow" | grep -q "$lib/libunified.so.0" || LD_LIBRARY_PATH="$lib" ldd "$dest/seed_flow" | grep -q libunified.so.0
LD_LIBRARY_PATH="$lib" UNIFIED_DEFAULT_FILE="$dest/default.img" "$dest/seed_flow"

# The shared library's identity: the soname (what programs record), the
# real file named by the release, every version node defined.
soname=$(readelf -d "$lib/libunified.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libunified.so.0 ]] || { echo "soname is '$soname', want libunified.so.0"; exit 1; }
real=$(readlink -f "$lib/libunified.so")
ver=$(make -C "$root" -s --no-print-directory -f Makefile print-version)
[[ $(basename "$real") == "libunified.so.$ver" ]] || { echo "libunified.so -> $real, want libunified.so.$ver"; exit 1; }
nodes=$(readelf -V -W "$lib/libunified.so.0" | sed -n 's/.*Name: \(LIBUNIFIED_[0-9.]*\).*/\1/p' | sort -u | tr '\n' ' ')
want=$(sed -n 's/^\(LIBUNIFIED_[0-9.]*\) {.*/\1/p' "$root/lib/libunified.map" | sort -u | tr '\n' ' ')
[[ $nodes == "$want" ]] || { echo "version nodes '$nodes', lib/libunified.map defines '$want'"; exit 1; }
echo "soname libunified.so.0, file libunified.so.$ver, version nodes: $nodes"
# Programs built against the installed copy record the node of each symbol.
readelf --dyn-syms -W "$dest/seed_flow" | grep -q 'unified_register@LIBUNIFIED_0\.1' ||
	{ echo "seed_flow does not bind unified_register@LIBUNIFIED_0.1"; exit 1; }

# The section 7 overview and every section 3 page the source tree has.
for f in "$root"/man/man*/*.[137]; do
	rel=${f#"$root"/man/}
	[[ -f "$dest/usr/share/man/$rel" ]] || { echo "man page $rel not installed"; exit 1; }
done
echo "man pages installed: $(find "$dest/usr/share/man" -type f | wc -l)"

# make uninstall takes back exactly what install put there.
make -C "$root" -s uninstall DESTDIR="$dest" PREFIX=/usr >/dev/null
left=$(find "$dest/usr" -type f -o -type l)
if [[ -n $left ]]; then
	echo "make uninstall left files behind:"; echo "$left"; exit 1
fi
echo "make uninstall: nothing left"

# A distribution's layout: LIBDIR and MANDIR of their own, pkg-config from
# there, then uninstall again.
rm -rf "$dest"
mkdir -p "$dest"
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
make -C "$root" -s install DESTDIR="$dest" PREFIX=/usr LIBDIR=/usr/lib/$multi MANDIR=/usr/share/man >/dev/null
lib="$dest/usr/lib/$multi"
[[ -L $lib/libunified.so && -f $lib/pkgconfig/libunified.pc && ! -e $dest/usr/lib/libunified.so ]] ||
	{ echo "LIBDIR=/usr/lib/$multi not honoured"; find "$dest" -name 'libunified*'; exit 1; }
PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --libs libunified | grep -q -- "-L$lib" ||
	{ echo "pkg-config --libs does not name $lib"; exit 1; }
gcc -std=gnu11 $(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags libunified) \
	-o "$dest/seed_flow" "$root/examples/seed_flow.c" \
	$(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --libs libunified) -luring -lpthread
LD_LIBRARY_PATH="$lib" UNIFIED_DEFAULT_FILE="$dest/default.img" "$dest/seed_flow" >/dev/null
# unified_version() and the .pc file say the release the file name says.
printf '#include <stdio.h>\n#include <libunified.h>\nint main(void) { puts(unified_version()); return 0; }\n' |
	gcc -x c -o "$dest/version" - $(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
		pkg-config --cflags --libs libunified)
got=$(LD_LIBRARY_PATH="$lib" "$dest/version")
pcver=$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --modversion libunified)
[[ $got == "$ver" && $pcver == "$ver" ]] || { echo "unified_version() '$got', pkg-config '$pcver', release '$ver'"; exit 1; }
make -C "$root" -s uninstall DESTDIR="$dest" PREFIX=/usr LIBDIR=/usr/lib/$multi MANDIR=/usr/share/man >/dev/null
left=$(find "$dest/usr" -type f -o -type l)
[[ -z $left ]] || { echo "uninstall with LIBDIR left:"; echo "$left"; exit 1; }
echo "LIBDIR=/usr/lib/$multi: installed, built against with pkg-config, run (unified_version() $got), uninstalled"
rm -rf "$dest"
