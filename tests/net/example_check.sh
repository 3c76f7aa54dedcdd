#!/bin/bash
# examples/net_to_nvme end to end: 8 MiB of random bytes sent over TCP on
# loopback are written to a file target from the receive buffers; the file
# must then start with exactly those bytes.  Prints PASS/FAIL lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/net-example.XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
truncate -s 64M "$dir/target.img"
head -c $((8 << 20)) /dev/urandom >"$dir/sent"
build/examples/net_to_nvme -t "$dir/target.img" -p 0 -n 1 >"$dir/out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$dir/out")
    [[ -n "$port" ]] && break
    sleep 0.1
done
if [[ -z "$port" ]]; then
    echo "FAIL: net_to_nvme example: it did not start listening: $(cat "$dir/out")"
    exit 1
fi
python3 - "$port" "$dir/sent" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.close()
PY
if ! wait "$pid"; then
    echo "FAIL: net_to_nvme example: exit status $?: $(tail -3 "$dir/out")"
    exit 1
fi
if ! cmp -n $((8 << 20)) "$dir/sent" "$dir/target.img"; then
    echo "FAIL: net_to_nvme example: the target does not hold the bytes sent"
    exit 1
fi
if ! grep -q "received 8388608 bytes.*copied by the library: 0$" "$dir/out"; then
    echo "FAIL: net_to_nvme example: unexpected summary: $(tail -1 "$dir/out")"
    exit 1
fi
echo "PASS: net_to_nvme example: 8 MiB over loopback to a file target, read back equal ($(tail -1 "$dir/out"))"
