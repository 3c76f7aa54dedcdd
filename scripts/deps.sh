#!/bin/bash
# Install what io_unified needs on Debian 12 (bookworm).  Idempotent: only
# calls apt-get when a package is missing.  Run as root.
set -euo pipefail

PKGS=(build-essential make gcc pkg-config liburing-dev libnuma-dev fio util-linux mount binutils
      qemu-system-x86 busybox-static cpio kmod xz-utils zstd nvme-cli python3 e2fsprogs
      iproute2 ca-certificates libxdp-dev libbpf-dev groff-base
      rsyslog rsyslog-relp bsdutils         # unified-ingest's tests: rsyslogd (omfwd, omrelp), logger
      libivykis0 libnet1 libjson-c5 libwrap0 libglib2.0-0 libcap2   # what loggen links (below)
      clang libclang-rt-14-dev libfuzzer-14-dev    # the libfuzzer test tier (tests/fuzz/)
      linux-source-6.12 git flex bison bc libelf-dev libssl-dev rsync perl   # kernel/build.sh, the kernel tier
      python3-ply python3-git              # checkpatch.pl's SPDX check (kernel/build.sh --check)
      mandoc                               # man page lint (tests/man_check.sh)
      abigail-tools dwarves                # ABI baseline: abidw/abidiff, pahole (tests/abi_check.sh)
      gnuplot-nox                          # benchmark plots (scripts/plot-bench.sh)
      dpkg-dev zlib1g-dev)                 # apt-get source fio + its configure (fio/build.sh)

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
# loggen, syslog-ng's load generator, comes with syslog-ng-core, which
# conflicts with rsyslog as a package: its .deb is unpacked into
# build-deps/syslog-ng instead of being installed (tests/ingest/run.sh and
# scripts/main.sh look there).
top=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v loggen >/dev/null && [[ ! -x $top/build-deps/syslog-ng/usr/bin/loggen ]]; then
	tmp=$(mktemp -d)
	if ! (cd "$tmp" && apt-get download syslog-ng-core >/dev/null 2>&1); then
		[[ $(id -u) -eq 0 ]] && apt-get update -qq
		(cd "$tmp" && apt-get download syslog-ng-core >/dev/null)
	fi
	mkdir -p "$top/build-deps/syslog-ng"
	dpkg -x "$tmp"/syslog-ng-core_*.deb "$top/build-deps/syslog-ng"
	rm -rf "$tmp"
	echo "deps: loggen unpacked into build-deps/syslog-ng"
fi
echo "deps: all present"
