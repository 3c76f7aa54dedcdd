#!/bin/bash
# unified-ingest against rsyslog, side by side in one run, the same messages
# from the same client: loggen (syslog-ng) sends RFC 5424 octet-counted
# messages over TCP on loopback to
#   unified-ingest serve           durable: acknowledged-grade group commit
#                                  (data, Flush, index with FUA) about every ms
#   rsyslogd imptcp -> omfile      buffered (64 KiB buffer, async writing)
#   rsyslogd imptcp -> omfile      with sync (flushOnTXEnd, fsync per batch)
# and prints, per server: messages/s (loggen's average rate: the server's
# receive holds loggen back through TCP), MB/s of messages, the server's
# CPU seconds (user + system of the whole process, its io_uring workers
# included, read from /proc once every message is stored), CPU
# microseconds per message, and messages per CPU-second against rsyslog's.
#
#   scripts/ingest-bench.sh [--target PATH] [--size BYTES] [--count N] [--conns N]
#                           [--msg-size BYTES] [--servers LIST] [--rounds N]
#   --target   unified-ingest's target (default: a new sparse file in a
#              temporary directory; "default": the embedded default namespace)
#   --count    messages per connection (default 500000); --conns (default 2)
#   --msg-size loggen's message size (default 300; 8192 for large messages)
#   --servers  any of unified,rsyslog,rsyslog-sync (default all three)
#   --rounds   repeat the set, servers interleaved (default 1)
# Needs root (a private network namespace), rsyslog and loggen
# (scripts/deps.sh).  Exit status 0 if every server stored every message
# (and unified-ingest's verify is clean).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
target="" size=4G count=500000 conns=2 msgsize=300 servers="unified,rsyslog,rsyslog-sync" rounds=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --target) target=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --msg-size) msgsize=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ingest-bench: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z "${INGEST_BENCH_NETNS:-}" ]]; then
    [[ $EUID -eq 0 ]] || { echo "ingest-bench: needs root (a private network namespace)" >&2; exit 2; }
    exec env INGEST_BENCH_NETNS=1 unshare -n "$0" --target "$target" --size "$size" --count "$count" \
        --conns "$conns" --msg-size "$msgsize" --servers "$servers" --rounds "$rounds"
fi
ip link set lo up
BIN=$top/build/tools/unified-ingest
LOGGEN=$(command -v loggen || true)
if [[ -z "$LOGGEN" ]]; then
    LOGGEN=$top/build-deps/syslog-ng/usr/bin/loggen
    export SYSLOGNG_PREFIX=$top/build-deps/syslog-ng/usr
    export LD_LIBRARY_PATH=$top/build-deps/syslog-ng/usr/lib/syslog-ng
fi
[[ -x "$LOGGEN" ]] || { echo "ingest-bench: loggen not found: run scripts/deps.sh" >&2; exit 2; }
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/ingest-bench.XXXXXX")
srv=""
trap '[[ -n "$srv" ]] && kill -9 "$srv" 2>/dev/null; rm -rf "$dir"' EXIT
total=$((count * conns))
ok=0

cpu_of() { # CPU seconds (user + system) of process $1
    awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"
}

# loggen against port $1; its average rate goes to $rate.
drive() {
    "$LOGGEN" -i -S -P -s "$msgsize" --active-connections="$conns" -r 10000000 -n "$count" \
        127.0.0.1 "$1" >"$dir/loggen.out" 2>&1
    rate=$(sed -n 's/.*average rate = \([0-9.]*\) msg\/sec.*/\1/p' "$dir/loggen.out" | tail -1)
}

declare -A R_RATE R_CPU R_N
run_unified() {
    local args=(serve --listen 127.0.0.1:0 --json --stats-interval 0.05 --quiet)
    local t=$target
    if [[ "$t" == default ]]; then
        t=""
    elif [[ -z "$t" ]]; then
        t=$dir/ingest.img
        rm -f "$t"
        args+=(--size "$size")
    fi
    [[ -n "$t" ]] && args+=(--target "$t")
    "$BIN" "${args[@]}" --max-msg $((msgsize + 100 > 65536 ? msgsize + 100 : 65536)) \
        >"$dir/ingest.out" 2>"$dir/ingest.err" &
    srv=$!
    for _ in $(seq 200); do grep -q '"ready"' "$dir/ingest.out" && break; sleep 0.05; done
    local port base
    port=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$dir/ingest.out")
    base=$(sed -n 's/.*"next_seq":\([0-9]*\).*/\1/p' "$dir/ingest.out")
    [[ -n "$port" ]] || { echo "unified-ingest did not start: $(cat "$dir/ingest.err")" >&2; return 1; }
    drive "$port"
    # every message durable: the stats lines report the durable records
    for _ in $(seq 600); do
        local rec
        rec=$(grep -o '"records":[0-9]*' "$dir/ingest.out" | tail -1 | cut -d: -f2)
        [[ -n "$rec" && $rec -ge $((base - 1 + total)) ]] && break
        sleep 0.05
    done
    R_CPU[unified]=$(cpu_of "$srv")
    kill -TERM "$srv"
    wait "$srv"
    srv=""
    R_RATE[unified]=$rate
    R_N[unified]=$(grep -o '"stored":[0-9]*' "$dir/ingest.out" | tail -1 | cut -d: -f2)
    copied=$(grep -o '"copied_bytes":[0-9]*' "$dir/ingest.out" | tail -1 | cut -d: -f2)
    if ! "$BIN" verify ${t:+--target "$t"} >"$dir/verify.out" 2>&1; then
        echo "verify failed: $(cat "$dir/verify.out")" >&2
        ok=1
    fi
    verify_line=$(cat "$dir/verify.out")
    [[ -z "$target" ]] && rm -f "$dir/ingest.img"
    return 0
}

run_rsyslog() { # run_rsyslog NAME SYNC(on|off)
    local name=$1 sync=$2 out=$dir/rs-$1.log
    rm -f "$out"
    mkdir -p "$dir/rs-$name"
    cat >"$dir/rs-$name/rsyslog.conf" <<EOF
global(workDirectory="$dir/rs-$name" maxMessageSize="64k")
module(load="imptcp" threads="1")
input(type="imptcp" port="20701" address="127.0.0.1" ruleset="r")
ruleset(name="r" queue.type="fixedArray" queue.size="250000" queue.dequeueBatchSize="4096") {
  action(type="omfile" file="$out" template="RSYSLOG_FileFormat" ioBufferSize="64k"
         flushOnTXEnd="$sync" asyncWriting="$( [[ $sync == on ]] && echo off || echo on )" sync="$sync")
}
EOF
    "$RSYSLOGD" -n -f "$dir/rs-$name/rsyslog.conf" -i "$dir/rs-$name/pid" 2>"$dir/rs-$name/err" &
    srv=$!
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/20701) 2>/dev/null && break
        sleep 0.05
    done
    drive 20701
    for _ in $(seq 1200); do
        [[ -e "$out" && $(wc -l <"$out") -ge $total ]] && break
        sleep 0.05
    done
    R_CPU[$name]=$(cpu_of "$srv")
    R_RATE[$name]=$rate
    R_N[$name]=$( [[ -e "$out" ]] && wc -l <"$out" || echo 0)
    kill -TERM "$srv"
    wait "$srv" || true
    srv=""
    rm -f "$out"
}

printf '%s messages of %s bytes on %s connections (loggen -P, octet-counted RFC 5424), %s round(s); %s CPUs, kernel %s\n' \
    "$total" "$msgsize" "$conns" "$rounds" "$(nproc)" "$(uname -r)"
declare -A S_RATE S_CPU S_N
IFS=, read -r -a list <<<"$servers"
for ((r = 1; r <= rounds; r++)); do
    for s in "${list[@]}"; do
        case "$s" in
        unified) run_unified ;;
        rsyslog) run_rsyslog rsyslog off ;;
        rsyslog-sync) run_rsyslog rsyslog-sync on ;;
        *) echo "ingest-bench: unknown server $s" >&2; exit 2 ;;
        esac
        S_RATE[$s]=$(awk -v a="${S_RATE[$s]:-0}" -v b="${R_RATE[$s]:-0}" 'BEGIN { print a + b }')
        S_CPU[$s]=$(awk -v a="${S_CPU[$s]:-0}" -v b="${R_CPU[$s]:-0}" 'BEGIN { print a + b }')
        S_N[$s]=$(( ${S_N[$s]:-0} + ${R_N[$s]:-0} ))
        [[ "${R_N[$s]:-0}" -ge $total ]] || { echo "$s stored ${R_N[$s]:-0} of $total messages" >&2; ok=1; }
    done
done
printf '%-15s %10s %9s %8s %11s %14s %14s\n' server msg/s MB/s CPU-s CPU-us/msg msgs/CPU-s "vs rsyslog"
base=""
for s in rsyslog rsyslog-sync unified; do
    [[ -n "${S_N[$s]:-}" ]] || continue
    read -r mps mbs cpu us per < <(awk -v r="${S_RATE[$s]}" -v c="${S_CPU[$s]}" -v n="${S_N[$s]}" \
        -v k="$rounds" -v sz="$msgsize" 'BEGIN {
            printf "%.0f %.1f %.2f %.3f %.0f\n", r / k, r / k * sz / 1e6, c / k, c * 1e6 / n, n / c }')
    [[ $s == rsyslog ]] && base=$per
    ratio=$( [[ -n "$base" ]] && awk -v a="$per" -v b="$base" 'BEGIN { printf "%.2fx", a / b }' || echo -)
    printf '%-15s %10s %9s %8s %11s %14s %14s\n' "$s" "$mps" "$mbs" "$cpu" "$us" "$per" "$ratio"
done
if [[ -n "${S_N[unified]:-}" ]]; then
    echo "unified-ingest: payload bytes copied by user space: ${copied:-?}; every message durable before the run ended; $verify_line"
fi
exit $ok
