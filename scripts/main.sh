#!/bin/bash
# The main job: unified-ingest end to end on the embedded default namespace
# (a sparse file-backed namespace; --target /dev/ngXnY or a block device
# for real hardware).  It installs what is missing, builds, starts
# `unified-ingest serve`, drives it for a few seconds with loggen (500,000
# RFC 5424 messages of 300 bytes on 2 TCP connections), stops it with
# SIGTERM (everything received is durable first), runs `verify`, and prints
# the throughput, the server's CPU per message and the payload bytes copied
# by user space (0), with the same workload through rsyslog (imptcp to
# omfile, buffered and with sync) side by side: scripts/ingest-bench.sh.
# Extra arguments go to it.  The storage benchmark: scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -j"$(nproc)" all >/dev/null
ING=build/tools/unified-ingest
case " $* " in
*" --target "*) ;;
*)
    # The embedded default namespace is the demonstration's own: when it
    # holds no journal (scripts/bench.sh writes all of it) or too little
    # room is left for this run, it gets a new journal.
    need=$((500000 * (300 + 52) / 4096 + 4096))
    if line=$("$ING" verify 2>/dev/null); then
        used=$(sed -n 's/.* \([0-9]*\) of \([0-9]*\) blocks used.*/\1/p' <<<"$line")
        all=$(sed -n 's/.* \([0-9]*\) of \([0-9]*\) blocks used.*/\2/p' <<<"$line")
        if ((all - used < need)); then
            echo "main: the default namespace's journal has $(((all - used) / 256)) MiB left, this run needs $((need / 256)) MiB: starting a new journal there"
            "$ING" format
        fi
    else
        echo "main: no journal on the default namespace yet: making one (unified-ingest format)"
        "$ING" format
    fi
    set -- --target default "$@"
    ;;
esac
exec ./scripts/ingest-bench.sh --count 250000 --conns 2 "$@"
