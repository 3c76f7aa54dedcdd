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
for f in io_unified.h libunified.h; do
	[[ -f "$dest/usr/include/$f" ]] || { echo "missing header $f"; exit 1; }
done
[[ -f "$lib/libunified.a" && -L "$lib/libunified.so" && -L "$lib/libunified.so.0" ]] || {
	echo "missing library files"; ls -l "$lib"; exit 1; }
# Every exported function carries the version node, nothing else leaks out.
exported=$(readelf --dyn-syms -W "$lib/libunified.so.0" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' | grep -v '^LIBUNIFIED_' || true)
bad=$(echo "$exported" | grep -v '^unified_.*@@LIBUNIFIED_0\.1$' || true)
if [[ -n "$bad" ]]; then
	echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
echo "exported: $(echo "$exported" | wc -l) functions, all unified_*@@LIBUNIFIED_0.1"
gcc -std=gnu11 -Wall -Wextra -Werror $(pkg-config --cflags libunified) -o "$dest/seed_flow" \
	"$root/examples/seed_flow.c" $(pkg-config --libs libunified) -luring -lpthread
ldd "$dest/seed_flow" | grep -q "$lib/libunified.so.0" || LD_LIBRARY_PATH="$lib" ldd "$dest/seed_flow" | grep -q libunified.so.0
LD_LIBRARY_PATH="$lib" UNIFIED_DEFAULT_FILE="$dest/default.img" "$dest/seed_flow"
rm -rf "$dest"
