#!/bin/bash
# Install what io_unified needs on Debian 12 (bookworm).  Idempotent: only
# calls apt-get when a package is missing.  Run as root.
set -euo pipefail

PKGS=(build-essential make gcc pkg-config liburing-dev libnuma-dev fio util-linux mount binutils
      qemu-system-x86 busybox-static cpio kmod xz-utils zstd nvme-cli python3 e2fsprogs
      iproute2 ca-certificates libxdp-dev libbpf-dev groff-base
      clang libclang-rt-14-dev libfuzzer-14-dev)   # the libfuzzer test tier (tests/fuzz/)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: all present"
