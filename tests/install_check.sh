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
rm -rf "$dest"
