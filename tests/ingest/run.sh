#!/bin/bash
# unified-ingest end to end, with real clients: logger (util-linux),
# loggen (syslog-ng), rsyslogd with omfwd and omrelp (rsyslog-relp), and
# tests/ingest/clients.py for what only a scripted client can do (count
# RELP acknowledgements across kill -9, 1000 connections, malformed
# streams).  Everything runs in a private network namespace (root), each
# server on a file target of its own.  Prints PASS/FAIL/SKIP lines.
#
#   tests/ingest/run.sh [CASE...]
# Environment: UNIFIED_INGEST_ROUNDS (kill -9 rounds, default 100),
# LOGGEN (path of loggen; default: on PATH, else scripts/deps.sh's copy).
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
BIN=${UNIFIED_INGEST_BIN:-$top/build/tools/unified-ingest}
CL="python3 $top/tests/ingest/clients.py"

if [[ -z "${UNIFIED_INGEST_NETNS:-}" ]]; then
    if [[ $EUID -ne 0 ]] || ! command -v unshare >/dev/null; then
        echo "SKIP: ingest: needs root and unshare(1) for a private network namespace"
        exit 0
    fi
    exec env UNIFIED_INGEST_NETNS=1 unshare -n "$0" "$@"
fi
ip link set lo up 2>/dev/null || { echo "FAIL: ingest: cannot bring lo up"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/ingest-test.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
skip() { echo "SKIP: $1"; }

# loggen: on PATH, or the copy scripts/deps.sh extracts from syslog-ng-core
# (which conflicts with rsyslog as a package, so it is not installed).
LOGGEN=${LOGGEN:-$(command -v loggen || true)}
if [[ -z "$LOGGEN" && -x $top/build-deps/syslog-ng/usr/bin/loggen ]]; then
    LOGGEN=$top/build-deps/syslog-ng/usr/bin/loggen
    export SYSLOGNG_PREFIX=$top/build-deps/syslog-ng/usr
    export LD_LIBRARY_PATH=$top/build-deps/syslog-ng/usr/lib/syslog-ng
fi
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)

# start NAME ARGS...: serve on $dir/NAME.img in the background; sets $srv
# (pid) and the ports tcp/relp/udp from its ready line.
start() {
    local name=$1; shift
    : >"$dir/$name.out"
    "$BIN" serve --target "$dir/$name.img" --size 256M --json --stats-interval 0 "$@" \
        >"$dir/$name.out" 2>"$dir/$name.err" &
    srv=$!
    pids+=("$srv")
    for _ in $(seq 200); do
        grep -q '"ready"' "$dir/$name.out" && break
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.05
    done
    local ready
    ready=$(grep '"ready"' "$dir/$name.out") || { echo "  server did not start: $(tail -3 "$dir/$name.err")"; return 1; }
    tcp=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' <<<"$ready")
    relp=$(sed -n 's/.*"relp_port":\([0-9]*\).*/\1/p' <<<"$ready")
    udp=$(sed -n 's/.*"udp_port":\([0-9]*\).*/\1/p' <<<"$ready")
    next_seq=$(sed -n 's/.*"next_seq":\([0-9]*\).*/\1/p' <<<"$ready")
}

# stop: SIGTERM, and the exit status must be 0.
stop() {
    kill -TERM "$srv"
    wait "$srv"
}

# verify NAME: the journal checks clean.
verify() {
    "$BIN" verify --target "$dir/$1.img" >"$dir/$1.verify" 2>&1
}

lines() { # lines FILE N TAG: N lines "TAG seq I"
    seq 0 $(($2 - 1)) | sed "s/^/$3 seq /" >"$1"
}

cases=" $* "
[[ $# -eq 0 ]] && cases=""
sel() { [[ -z "$cases" || "$cases" == *" $1 "* ]]; }

# ---------------------------------------------------------------- logger
if sel logger; then
    if start logger --listen 127.0.0.1:0; then
        for k in 0 1 2; do lines "$dir/lg$k" 1000 "lg$k"; done
        lines "$dir/lf" 1000 lf
        cl=()
        for k in 0 1 2; do logger --tcp --octet-count -n 127.0.0.1 -P "$tcp" -t t -f "$dir/lg$k" & cl+=($!); done
        logger --tcp -n 127.0.0.1 -P "$tcp" -t t -f "$dir/lf" & cl+=($!)
        wait "${cl[@]}"
        sleep 0.3
        if stop && verify logger && "$BIN" dump --target "$dir/logger.img" >"$dir/logger.dump" &&
            r=$($CL check "$dir/logger.dump" lg0=1000 lg1=1000 lg2=1000 lf=1000 --only); then
            pass "logger: 3 octet-counted and 1 LF-framed connections at once, 4000 messages, each connection's in order ($r)"
        else
            fail "logger: ${r:-server or verify failed}: $(tail -2 "$dir/logger.err") $(cat "$dir/logger.verify" 2>/dev/null)"
        fi
    else
        fail "logger: server did not start"
    fi
fi

# ---------------------------------------------------------------- loggen
if sel loggen; then
    if [[ -z "$LOGGEN" ]] || ! "$LOGGEN" --help >/dev/null 2>&1; then
        skip "loggen: not found (scripts/deps.sh extracts it from syslog-ng-core)"
    elif start loggen --listen 127.0.0.1:0; then
        "$LOGGEN" -i -S -P -s 300 --active-connections=4 -r 100000 -n 5000 127.0.0.1 "$tcp" \
            >"$dir/loggen.log" 2>&1
        sleep 0.3
        if stop && verify loggen && "$BIN" dump --target "$dir/loggen.img" >"$dir/loggen.dump" &&
            r=$($CL loggen "$dir/loggen.dump" 4 -1) && [[ $(wc -l <"$dir/loggen.dump") -eq 20000 ]]; then
            pass "loggen: 4 connections, 20000 RFC 5424 octet-counted messages of 300 bytes, each connection's in order ($r)"
        else
            fail "loggen: ${r:-} $(wc -l <"$dir/loggen.dump" 2>/dev/null) lines; $(tail -2 "$dir/loggen.log")"
        fi
    else
        fail "loggen: server did not start"
    fi
fi

# ---------------------------------------------------------------- rsyslog
# rsyslog_case NAME ACTION: rsyslogd receives on imptcp and forwards with ACTION.
rsyslog_case() {
    local name=$1 action=$2 n=3000 rs
    mkdir -p "$dir/rs-$name"
    cat >"$dir/rs-$name/rsyslog.conf" <<EOF
global(workDirectory="$dir/rs-$name")
module(load="imptcp")
$( [[ $name == omrelp ]] && echo 'module(load="omrelp")' )
input(type="imptcp" port="20601" address="127.0.0.1" ruleset="fwd")
ruleset(name="fwd") {
  $action
}
EOF
    "$RSYSLOGD" -n -f "$dir/rs-$name/rsyslog.conf" -i "$dir/rs-$name/pid" 2>"$dir/rs-$name/err" &
    rs=$!
    pids+=("$rs")
    for _ in $(seq 100); do $CL send 20601 /dev/null 2>/dev/null && break; sleep 0.1; done
    lines "$dir/rs-$name/msgs" $n "rs$name"
    sed 's/^/<13>1 - h app - - - /' "$dir/rs-$name/msgs" >"$dir/rs-$name/stream"
    $CL send 20601 "$dir/rs-$name/stream"
    # wait until everything arrived (the journal's count), at most 20 s
    for _ in $(seq 200); do
        "$BIN" dump --target "$dir/$name.img" 2>/dev/null | grep -c "rs$name seq" | grep -qx $n && break
        sleep 0.1
    done
    kill -TERM "$rs"; wait "$rs" 2>/dev/null
}
if sel rsyslog; then
    if [[ ! -x "$RSYSLOGD" ]]; then
        skip "rsyslog omfwd and omrelp: rsyslogd not found (scripts/deps.sh installs rsyslog, rsyslog-relp)"
    else
        if start omfwd --listen 127.0.0.1:0; then
            rsyslog_case omfwd "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"$tcp\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")"
            if stop && verify omfwd && "$BIN" dump --target "$dir/omfwd.img" >"$dir/omfwd.dump" &&
                r=$($CL check "$dir/omfwd.dump" rsomfwd=3000 --only); then
                pass "rsyslog omfwd (TCP, octet-counted): 3000 messages, in order ($r)"
            else
                fail "rsyslog omfwd: ${r:-} $(tail -2 "$dir/rs-omfwd/err")"
            fi
        else
            fail "rsyslog omfwd: server did not start"
        fi
        if [[ ! -e /usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so && -z "$(find /usr/lib -name omrelp.so 2>/dev/null | head -1)" ]]; then
            skip "rsyslog omrelp: omrelp.so not found (package rsyslog-relp)"
        elif start omrelp --relp 127.0.0.1:0; then
            rsyslog_case omrelp "action(type=\"omrelp\" target=\"127.0.0.1\" port=\"$relp\" template=\"RSYSLOG_SyslogProtocol23Format\")"
            if stop && verify omrelp && "$BIN" dump --target "$dir/omrelp.img" >"$dir/omrelp.dump" &&
                r=$($CL check "$dir/omrelp.dump" rsomrelp=3000 --only); then
                pass "rsyslog omrelp (RELP, acknowledged after commit): 3000 messages, in order, once each ($r)"
            else
                fail "rsyslog omrelp: ${r:-} $(tail -2 "$dir/rs-omrelp/err") $(tail -2 "$dir/omrelp.err")"
            fi
        else
            fail "rsyslog omrelp: server did not start"
        fi
    fi
fi

# ---------------------------------------------------------------- UDP
# With 64 KiB buffers each datagram gets a buffer; with 256 KiB the library
# packs datagrams into one buffer it keeps, which commits write while held.
if sel udp; then
    for bs in 64K 256K; do
        if start udp$bs --udp 127.0.0.1:0 --buffer-size $bs; then
            lines "$dir/udp.msgs" 500 udp
            while read -r l; do logger --udp -n 127.0.0.1 -P "$udp" -t t "$l"; done <"$dir/udp.msgs"
            sleep 0.3
            stop; st=$?
            got=$("$BIN" dump --target "$dir/udp$bs.img" | grep -c "udp seq")
            dropped=$(sed -n 's/.*"udp_dropped":\([0-9]*\).*/\1/p' "$dir/udp$bs.out")
            if [[ $st -eq 0 ]] && verify udp$bs && [[ $((got + dropped)) -eq 500 ]] &&
                r=$($CL check <("$BIN" dump --target "$dir/udp$bs.img") udp=$got); then
                pass "UDP syslog (logger --udp), $bs buffers: 500 datagrams, $got stored + $dropped dropped by the kernel = 500 ($r)"
            else
                fail "UDP, $bs buffers: exit $st, $got stored, $dropped dropped, of 500; ${r:-} $(tail -2 "$dir/udp$bs.err")"
            fi
        else
            fail "UDP, $bs buffers: server did not start"
        fi
    done
fi

# ---------------------------------------------------------------- malformed
if sel malformed; then
    if start bad --listen 127.0.0.1:0 --frame-timeout 2; then
        lines "$dir/good" 2000 good
        awk '{ m = "<13>1 - h good - - - " $0; printf "%d %s", length(m), m }' "$dir/good" >"$dir/good.stream"
        cl=()
        for c in bad_count oversized non_numeric garbage mid_frame never_finish; do
            $CL bad "$tcp" $c >"$dir/bad.$c" 2>&1 & cl+=($!)
        done
        $CL send "$tcp" "$dir/good.stream"
        wait "${cl[@]}"
        sleep 0.3
        stop
        "$BIN" dump --target "$dir/bad.img" >"$dir/bad.dump"
        ok=1; why=""
        $CL check "$dir/bad.dump" good=2000 >/dev/null || { ok=0; why+=" good messages wrong;"; }
        for c in bad_count oversized non_numeric garbage mid_frame never_finish; do
            grep -q "before $c\$" "$dir/bad.dump" || { ok=0; why+=" $c: the message before the bad frame is missing;"; }
            if [[ $c != mid_frame ]] && ! grep -q "closed by server" "$dir/bad.$c"; then
                ok=0; why+=" $c: $(cat "$dir/bad.$c");"
            fi
        done
        for w in "octet count not followed by a space" "octet count larger than the longest" \
            "neither a length nor" "closed in the middle of a frame" "an unfinished frame, no byte for 2 s"; do
            grep -q "$w" "$dir/bad.err" || { ok=0; why+=" no log line '$w';"; }
        done
        n=$(grep -c "closing it (other connections go on)" "$dir/bad.err")
        [[ $n -eq 5 ]] || { ok=0; why+=" $n connections closed for a bad frame (want 5);"; }
        if ((ok)) && verify bad; then
            pass "malformed input: bad octet count, oversized frame, non-numeric length, binary garbage, a frame never finished (closed after --frame-timeout), a disconnect mid-frame: each connection closed with a log line, the 2000 messages of a good connection at the same time all stored in order"
        else
            fail "malformed input:$why $(grep -v accepted "$dir/bad.err" | tail -4)"
        fi
    else
        fail "malformed input: server did not start"
    fi
fi

# ---------------------------------------------------------------- RELP misuse
if sel relp_abuse; then
    # small socket buffers (this namespace's own), so that a client that
    # does not read blocks the server's sends long before 65536 frames
    wmem=$(sysctl -n net.ipv4.tcp_wmem); rmem=$(sysctl -n net.ipv4.tcp_rmem)
    sysctl -qw net.ipv4.tcp_wmem="4096 16384 65536" net.ipv4.tcp_rmem="4096 16384 65536"
    if start abuse --relp 127.0.0.1:0 --frame-timeout 4; then
        $CL relp_abuse "$relp" noread >"$dir/abuse.noread" 2>&1 &
        a1=$!
        $CL relp_abuse "$relp" stall >"$dir/abuse.stall" 2>&1 &
        a2=$!
        $CL relp_abuse "$relp" noopen >"$dir/abuse.noopen" 2>&1
        sleep 1	# the stalled client's responses fill its socket
        $CL relp "$relp" "$dir/abuse.acked" 3000 fine >"$dir/abuse.client"
        wait "$a1" "$a2"
        stop
        "$BIN" dump --target "$dir/abuse.img" >"$dir/abuse.dump"
        if grep -q "closed by server" "$dir/abuse.noread" && grep -q "closed by server" "$dir/abuse.noopen" &&
            grep -q "RELP command before open" "$dir/abuse.err" &&
            grep -q "65536 RELP frames unanswered" "$dir/abuse.err" &&
            grep -q "closed by server" "$dir/abuse.stall" &&
            grep -q "responses not read for 4 s" "$dir/abuse.err" &&
            r=$($CL acked "$dir/abuse.acked" "$dir/abuse.dump") && grep -q "acked 3000 of 3000" "$dir/abuse.client"; then
            pass "RELP misuse: a client that never reads its responses is closed after 65536 unanswered frames, one whose responses stall (20000 frames, small socket buffers) is closed after --frame-timeout, one that skips open at once, each with a log line; a good client meanwhile gets all 3000 acknowledged ($r)"
        else
            fail "RELP misuse: noread: $(cat "$dir/abuse.noread"); stall: $(cat "$dir/abuse.stall"); noopen: $(cat "$dir/abuse.noopen"); good: $(cat "$dir/abuse.client"); $(grep -v accepted "$dir/abuse.err" | tail -3)"
        fi
    else
        fail "RELP misuse: server did not start"
    fi
    sysctl -qw net.ipv4.tcp_wmem="$wmem" net.ipv4.tcp_rmem="$rmem"
fi

# ---------------------------------------------------------------- 1000 connections
if sel many; then
    if start many --listen 127.0.0.1:0 --max-conns 1100 --buffers 1200 --quiet; then
        $CL many "$tcp" 1000 "$dir/many.sent"
        sleep 0.5
        stop
        "$BIN" dump --target "$dir/many.img" >"$dir/many.dump"
        specs=$(seq 0 999 | sed 's/^/c/; s/$/=2/')
        if verify many && r=$($CL check "$dir/many.dump" $specs --only); then
            pass "1000 concurrent connections, 2 messages each interleaved: all 2000 stored, each connection's in order"
        else
            fail "1000 connections: ${r:-verify failed} $(tail -2 "$dir/many.err")"
        fi
    else
        fail "1000 connections: server did not start"
    fi
fi

# ---------------------------------------------------------------- idle connections
# 700 connections each send a little more than a buffer, then sit idle: each
# keeps one buffer (the previous one is let go once no message can still
# start in it), so a new client is still served.
if sel idle; then
  for fill in 70000 65536; do	# a little more than a buffer; exactly one buffer of whole messages
    rm -f "$dir/idle.release" "$dir/idle.img"
    if start idle --listen 127.0.0.1:0 --quiet; then
        $CL hold "$tcp" 700 $fill "$dir/idle.release" >"$dir/idle.hold" 2>&1 &
        h=$!
        for _ in $(seq 300); do grep -q holding "$dir/idle.hold" && break; sleep 0.1; done
        sleep 1
        lines "$dir/idle.msgs" 10 late
        logger --tcp --octet-count -n 127.0.0.1 -P "$tcp" -t t -f "$dir/idle.msgs"
        sleep 1
        "$BIN" dump --target "$dir/idle.img" >"$dir/idle.dump"
        touch "$dir/idle.release"; wait "$h"
        stop
        if r=$($CL check "$dir/idle.dump" late=10); then
            pass "700 connections that sent $fill bytes each (buffers of 65536) and went idle: a new client's 10 messages are stored while they stay connected ($r)"
        else
            fail "idle connections ($fill bytes each): the new client's messages are not stored: $r; $(tail -2 "$dir/idle.err")"
        fi
    else
        fail "idle connections: server did not start"
    fi
  done
fi

# ---------------------------------------------------------------- RELP session churn
# Short RELP sessions one after another: the library reuses a connection's
# slot as soon as its last RX entry is out, while the server may still be
# sending that connection's last responses.
if sel churn; then
    for mode in "" --thread; do
        if start churn$mode --relp 127.0.0.1:0 $mode; then
            $CL churn "$relp" 500 "$dir/churn.acked"
            sleep 0.3
            stop; st=$?
            "$BIN" dump --target "$dir/churn$mode.img" >"$dir/churn.dump"
            conns=$(sed -n 's/.*"type":"summary".*"connections":\([0-9]*\).*/\1/p' "$dir/churn$mode.out")
            if [[ $st -eq 0 && "$conns" == 0 ]] && r=$($CL acked "$dir/churn.acked" "$dir/churn.dump") &&
                [[ $(wc -l <"$dir/churn.acked") -eq 500 ]]; then
                pass "500 short RELP sessions in a row${mode:+ ($mode)}: every message acknowledged and stored once, no connection left over ($r)"
            else
                fail "RELP churn${mode:+ ($mode)}: exit $st, $conns connections left, $(wc -l <"$dir/churn.acked") acknowledged, ${r:-}; $(tail -2 "$dir/churn$mode.err")"
            fi
        else
            fail "RELP churn: server did not start"
        fi
    done
fi

# ---------------------------------------------------------------- a torn run of extents
# --inject-torn-run: the first commit with several extents writes only the
# first, then the server stops as after a power cut.  The next serve must
# continue without writing over the data that extent's records name.
if sel torn; then
    if [[ -z "$LOGGEN" ]] || ! "$LOGGEN" --help >/dev/null 2>&1; then
        skip "torn run of extents: loggen not found"
    elif start torn --listen 127.0.0.1:0 --inject-torn-run; then
        "$LOGGEN" -i -S -P -s 300 --active-connections=2 -r 10000000 -n 1000000 127.0.0.1 "$tcp" \
            >/dev/null 2>&1 &
        lg=$!
        wait "$srv"; st=$?
        kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null
        verify torn; v1=$?
        before=$(sed -n 's/.*: \([0-9]*\) records,.*/\1/p' "$dir/torn.verify")
        room=$("$BIN" verify --target "$dir/torn.img" --chain | tail -2 | head -1 | sed -n 's/.*(room \([0-9]*\)).*/\1/p')
        ok=0
        if [[ $st -eq 3 && $v1 -eq 0 ]] && start torn --listen 127.0.0.1:0; then
            lines "$dir/torn.msgs" 3000 after
            logger --tcp --octet-count -n 127.0.0.1 -P "$tcp" -t t -f "$dir/torn.msgs"
            sleep 0.5
            stop && verify torn && "$BIN" dump --target "$dir/torn.img" >"$dir/torn.dump" &&
                r=$($CL check "$dir/torn.dump" after=3000) &&
                [[ $(wc -l <"$dir/torn.dump") -eq $((before + 3000)) ]] && ok=1
        fi
        if ((ok)); then
            pass "a commit's run of extents torn after its first (room $room blocks left there): the restart writes its next extent within that room, verify stays clean, $before + 3000 records ($r)"
        else
            fail "torn run: first serve exit $st (want 3), verify $v1, room ${room:-?}, then: $(cat "$dir/torn.verify"); ${r:-}"
        fi
    else
        fail "torn run: server did not start"
    fi
fi

# ---------------------------------------------------------------- a message over 1 MiB
if sel bigmsg; then
    if start big --listen 127.0.0.1:0 --buffer-size 2M --buffers 80 --max-conns 8; then
        { printf '<13>1 - h big - - - '; head -c 1500000 /dev/zero | tr '\0' y; } >"$dir/big.msg"
        { printf '%d ' "$(wc -c <"$dir/big.msg")"; cat "$dir/big.msg"; } >"$dir/big.stream"
        $CL send "$tcp" "$dir/big.stream"
        sleep 0.5
        stop
        if verify big && "$BIN" dump --target "$dir/big.img" >"$dir/big.dump" &&
            cmp -s "$dir/big.msg" <(head -c -1 "$dir/big.dump"); then
            pass "a 1.5 MB message (--buffer-size 2M) is stored, verified and dumped byte for byte"
        else
            fail "1.5 MB message: $(cat "$dir/big.verify" 2>/dev/null) dump $(wc -c <"$dir/big.dump" 2>/dev/null) bytes"
        fi
    else
        fail "1.5 MB message: server did not start"
    fi
fi

# ---------------------------------------------------------------- a full target
if sel full; then
    if start full --relp 127.0.0.1:0 --size 8M --buffers 64 --max-conns 8; then
        $CL relp "$relp" "$dir/full.acked" 20000 full 900 >"$dir/full.client"
        full_logged=$(grep -c "journal full" "$dir/full.err")
        stop; st=$?
        "$BIN" dump --target "$dir/full.img" >"$dir/full.dump"
        if [[ $st -eq 0 && $full_logged -ge 1 ]] && verify full &&
            r=$($CL acked "$dir/full.acked" "$dir/full.dump") &&
            [[ $(wc -l <"$dir/full.acked") -lt 20000 ]]; then
            pass "a full target (8 MiB): receiving pauses (log line), the RELP client is held back ($(cat "$dir/full.client")), SIGTERM exits 0, verify clean, $r"
        else
            fail "full target: exit $st, 'journal full' logged $full_logged times, ${r:-}, client: $(cat "$dir/full.client")"
        fi
    else
        fail "full target: server did not start"
    fi
fi

# ---------------------------------------------------------------- SIGTERM in flight
if sel sigterm; then
    if [[ -z "$LOGGEN" ]] || ! "$LOGGEN" --help >/dev/null 2>&1; then
        skip "SIGTERM with data in flight: loggen not found"
    elif start term --listen 127.0.0.1:0 --size 4G; then
        "$LOGGEN" -i -S -P -s 300 --active-connections=2 -r 1000000 -n 4000000 127.0.0.1 "$tcp" \
            >"$dir/term.log" 2>&1 &
        lg=$!
        sleep 1
        stop; st=$?
        kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null
        n=$(sed -n 's/.*"type":"summary".*"messages":\([0-9]*\).*/\1/p' "$dir/term.out")
        stored=$(sed -n 's/.*"type":"summary".*"stored":\([0-9]*\).*/\1/p' "$dir/term.out")
        "$BIN" dump --target "$dir/term.img" >"$dir/term.dump"
        if [[ $st -eq 0 ]] && verify term && [[ -n "$n" && $n -gt 0 && $stored -eq $n && $(wc -l <"$dir/term.dump") -eq $n ]] &&
            r=$($CL loggen "$dir/term.dump" 2 -1); then
            pass "SIGTERM while loggen sends: exit 0, all $n messages received are durable and verify clean; each connection's a gap-free prefix ($r)"
        else
            fail "SIGTERM in flight: exit $st, summary $n messages received, $stored stored, dump $(wc -l <"$dir/term.dump"), ${r:-}"
        fi
    else
        fail "SIGTERM in flight: server did not start"
    fi
fi

# ---------------------------------------------------------------- damage
if sel damage; then
    if start dmg --listen 127.0.0.1:0; then
        lines "$dir/dmg.msgs" 100 dmg
        logger --tcp --octet-count -n 127.0.0.1 -P "$tcp" -t t -f "$dir/dmg.msgs"
        sleep 0.2
        stop
        off=$(grep -boa "dmg seq 57" "$dir/dmg.img" | head -1 | cut -d: -f1)
        printf 'X' | dd of="$dir/dmg.img" bs=1 seek="$off" conv=notrunc status=none
        "$BIN" verify --target "$dir/dmg.img" >"$dir/dmg.verify"; st=$?
        if [[ $st -eq 1 ]] && grep -q "damage: record 58 .*CRC32C mismatch" "$dir/dmg.verify" &&
            grep -q "100 records.*damage: 1$" "$dir/dmg.verify"; then
            pass "verify: one changed byte of stored message 58 is reported as damage to that record, exit status 1"
        else
            fail "verify damage: exit $st: $(cat "$dir/dmg.verify")"
        fi
    else
        fail "damage: server did not start"
    fi
fi

# ---------------------------------------------------------------- kill -9, loggen
# Big commits (several index extents written as one run) cut by kill -9:
# each connection's stored messages must be a gap-free prefix of what it sent.
if sel kill9_loggen; then
    if [[ -z "$LOGGEN" ]] || ! "$LOGGEN" --help >/dev/null 2>&1; then
        skip "kill -9 during loggen: loggen not found"
    else
        bad=0; why=""; stored=0
        for r in 1 2 3 4 5; do
            start k9l --listen 127.0.0.1:0 --size 2G || { bad=1; why="round $r: no start"; break; }
            "$LOGGEN" -i -S -P -s 300 --active-connections=2 -r 10000000 -n 3000000 127.0.0.1 "$tcp" \
                >/dev/null 2>&1 &
            lg=$!
            sleep "0.$((RANDOM % 6 + 3))"
            kill -9 "$srv"; wait "$srv" 2>/dev/null
            kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null
            verify k9l || { bad=1; why="round $r: $(cat "$dir/k9l.verify")"; break; }
            "$BIN" dump --target "$dir/k9l.img" --from "$next_seq" >"$dir/k9l.dump"
            r_ok=$($CL loggen "$dir/k9l.dump" 2 -1) || { bad=1; why="round $r: $r_ok"; break; }
            stored=$((stored + $(wc -l <"$dir/k9l.dump")))
        done
        if ((bad == 0)) && grep -q "commits" "$dir/k9l.verify"; then
            pass "kill -9 during loggen at full rate (multi-extent commits), 5 rounds: verify clean, each connection's stored messages a gap-free prefix, the sequence continuing ($stored stored; $(cat "$dir/k9l.verify"))"
        else
            fail "kill -9 during loggen: $why"
        fi
    fi
fi

# ---------------------------------------------------------------- kill -9
if sel kill9; then
    rounds=${UNIFIED_INGEST_ROUNDS:-100}
    bad=0; total_acked=0; why=""; midway=0
    for r in $(seq 1 "$rounds"); do
        if ! start k9 --relp 127.0.0.1:0 --buffers 96 --max-conns 8; then
            bad=1; why="round $r: server did not start"; break
        fi
        rm -f "$dir/k9.acked"
        $CL relp "$relp" "$dir/k9.acked" 20000 "r$r" >"$dir/k9.client" &
        cl=$!
        # the kill comes at a random moment once the client is connected
        for _ in $(seq 100); do [[ -e "$dir/k9.acked" ]] && break; sleep 0.05; done
        sleep "0.$(printf '%02d' $((RANDOM % 40 + 5)))"
        kill -9 "$srv"; wait "$srv" 2>/dev/null
        wait "$cl"
        if ! verify k9; then
            bad=1; why="round $r: verify: $(cat "$dir/k9.verify")"; break
        fi
        "$BIN" dump --target "$dir/k9.img" --from "$next_seq" >"$dir/k9.dump"
        if ! a=$($CL acked "$dir/k9.acked" "$dir/k9.dump"); then
            bad=1; why="round $r: $a; client: $(cat "$dir/k9.client"); server: $(tail -3 "$dir/k9.err")"; break
        fi
        # the journal continues: this round's records follow the last one
        total_acked=$((total_acked + $(wc -l <"$dir/k9.acked")))
        [[ $(awk '{print $2}' "$dir/k9.client") -lt 20000 ]] && midway=$((midway + 1))
    done
    last=$(cat "$dir/k9.verify")
    if ((bad == 0)); then
        pass "kill -9 during RELP ingest, $rounds rounds: verify clean after each, every acknowledged message present exactly once ($midway rounds killed with messages unacknowledged; $total_acked acknowledged in all; $last)"
    else
        fail "kill -9: $why"
    fi
fi

exit $((fails > 0))
