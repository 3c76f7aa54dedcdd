#!/usr/bin/env python3
"""Test clients for unified-ingest (tests/ingest/run.sh).

  clients.py relp PORT OUT N TAG      RELP: open, send N messages (window 128),
                                      write each acknowledged message to OUT as
                                      it is acknowledged; stops at the first
                                      connection error (the server was killed)
  clients.py many PORT N OUT          N connections at once, 2 octet-counted
                                      messages each, interleaved; OUT gets them
  clients.py bad PORT CASE            one malformed stream (see CASES); prints
                                      whether the server closed the connection
  clients.py send PORT FILE           FILE's bytes on one connection
  clients.py check DUMP TAG=N...      every line of DUMP ending in "TAG seq I" for
                                      the TAGs given: I runs 0..N-1 in order, once
                                      each (other lines ignored unless --only)
  clients.py loggen DUMP THREADS N    loggen's messages: each thread's "seq:"
                                      runs 0..N-1 in order (N = -1: any prefix)
  clients.py acked ACKED DUMP         every line of ACKED is in DUMP exactly once
"""
import re
import os, resource, socket, sys, time

def relp_frame(buf):
    """(txnr, data, rest) of the first complete "TXNR rsp LEN [DATA]\\n", or None."""
    i1 = buf.find(b" ")
    i2 = buf.find(b" ", i1 + 1) if i1 >= 0 else -1
    if i2 < 0:
        return None
    j = i2 + 1
    while j < len(buf) and buf[j:j + 1].isdigit():
        j += 1
    if j >= len(buf):
        return None
    ln = int(buf[i2 + 1:j])
    if ln == 0 and buf[j:j + 1] == b"\n":
        return int(buf[:i1]), b"", buf[j + 1:]
    if len(buf) < j + 1 + ln + 1:
        return None
    assert buf[j + 1 + ln:j + 2 + ln] == b"\n", buf[:80]
    return int(buf[:i1]), buf[j + 1:j + 1 + ln], buf[j + 2 + ln:]

def relp(port, out, n, tag, pad=0):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)         # a server that stops answering (journal full) ends the run
    f = open(out, "w", buffering=1)
    offer = b"relp_version=0\nrelp_software=clients.py\ncommands=syslog"
    s.sendall(b"1 open %d %s\n" % (len(offer), offer))
    buf = b""
    pending = {}            # txnr -> message
    nxt, txnr, acked, opened = 0, 1, 0, False
    try:
        while True:
            while opened and nxt < n and len(pending) < 128:
                txnr += 1
                msg = ("<13>1 - h relpc - - - %s%s seq %d" % ("x" * pad, tag, nxt)).encode()
                s.sendall(b"%d syslog %d %s\n" % (txnr, len(msg), msg))
                pending[txnr] = msg
                nxt += 1
            if opened and nxt == n and not pending:
                break
            data = s.recv(65536)
            if not data:
                break
            buf += data
            while True:
                fr = relp_frame(buf)
                if fr is None:
                    break
                t, data, buf = fr
                if t == 1:
                    assert data.startswith(b"200 OK"), data
                    opened = True
                    continue
                assert data == b"200 OK", data
                f.write(pending.pop(t).decode() + "\n")
                acked += 1
        if nxt == n:
            s.sendall(b"%d close 0\n" % (txnr + 1))
            s.recv(100)
    except (ConnectionError, OSError, socket.timeout):
        pass
    f.close()
    print("acked %d of %d sent" % (acked, nxt))

def many(port, n, out):
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    with open(out, "w") as f:
        for r in range(2):
            for i, s in enumerate(socks):
                m = ("<13>1 - h many - - - c%d seq %d" % (i, r)).encode()
                s.sendall(b"%d %s" % (len(m), m))
                f.write(m.decode() + "\n")
    for s in socks:
        s.close()

CASES = {
    "bad_count": b"12x <13>bad count\n",
    "oversized": b"99999999 <13>x",
    "non_numeric": b"abc <13>not a length\n",
    "garbage": bytes(range(0, 256)) * 4,
    "mid_frame": b"200 <13>this frame is cut short",
    "never_finish": b"100 <13>this frame never ends",
}

def bad(port, case):
    s = socket.create_connection(("127.0.0.1", port))
    good = b"<13>1 - h bad - - - before %s" % case.encode()
    s.sendall(b"%d %s" % (len(good), good) + CASES[case])
    if case == "mid_frame":
        s.close()
        print("closed by client")
        return
    s.settimeout(10)
    try:
        data = s.recv(100)
        print("closed by server" if data == b"" else "server sent %r" % data)
    except socket.timeout:
        print("still open after 10 s")
    except ConnectionResetError:
        print("closed by server")

def relp_abuse(port, case):
    """RELP misuse: 'noread' sends 100000 frames, 'stall' 20000 frames of an
    unknown command (answered at once with 500), and neither reads a
    response for 8 s; 'noopen' sends a message before open.  Then it reads
    what there is and prints whether the server closed the connection."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        if case == "noopen":
            s.sendall(b"1 syslog 5 hello\n")
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            offer = b"relp_version=0\nrelp_software=x\ncommands=syslog"
            s.sendall(b"1 open %d %s\n" % (len(offer), offer))
            if case == "stall":
                frames = b"".join(b"%d foo 0\n" % t for t in range(2, 20002))
            else:
                frames = b"".join(b"%d syslog 5 abuse\n" % t for t in range(2, 100002))
            s.sendall(frames)
            time.sleep(8)
        s.settimeout(10)
        while s.recv(65536):
            pass
        print("closed by server")
    except (ConnectionResetError, BrokenPipeError):
        print("closed by server")
    except (socket.timeout, OSError) as e:
        print("not closed: %s" % e)

def hold(port, n, nbytes, until):
    """N connections each send NBYTES of LF-framed lines of 64 bytes (rounded
    up to whole lines), then stay open (idle) until the file UNTIL exists."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    line = b"<13>1 - h hold - - - " + b"x" * 42 + b"\n"
    data = line * ((nbytes + len(line) - 1) // len(line))
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    for s in socks:
        s.sendall(data)
    print("holding %d connections" % n, flush=True)
    while not os.path.exists(until):
        time.sleep(0.1)
    for s in socks:
        s.close()

def churn(port, n, out):
    """N RELP sessions one after the other: open, one message, close."""
    with open(out, "w") as f:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(10)
            offer = b"relp_version=0\nrelp_software=x\ncommands=syslog"
            m = ("<13>1 - h churn - - - churn seq %d" % i).encode()
            s.sendall(b"1 open %d %s\n2 syslog %d %s\n3 close 0\n" % (len(offer), offer, len(m), m))
            buf, got = b"", set()
            while 3 not in got:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
                while True:
                    fr = relp_frame(buf)
                    if fr is None:
                        break
                    t, data, buf = fr
                    got.add(t)
                    if t == 2 and data == b"200 OK":
                        f.write(m.decode() + "\n")
            s.close()

def send(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(open(path, "rb").read())
    s.close()

def check(dump, specs, only):
    want = dict((t, int(n)) for t, n in (x.split("=") for x in specs))
    got = dict((t, []) for t in want)
    other = 0
    for line in open(dump, errors="replace"):
        m = re.search(r"(\S+) seq (\d+)$", line.rstrip("\n"))
        if m and m.group(1) in got:
            got[m.group(1)].append(int(m.group(2)))
        else:
            other += 1
    bad = []
    for t, n in want.items():
        if got[t] != list(range(n)):
            g = got[t]
            bad.append("%s: %d messages (want %d), first out of place at %s" % (
                t, len(g), n, next((i for i, v in enumerate(g) if v != i), len(g))))
    if only and other:
        bad.append("%d lines from nobody" % other)
    print("; ".join(bad) if bad else "ok: " + ", ".join("%s=%d" % kv for kv in want.items()))
    return 1 if bad else 0

def loggen(dump, threads, n):
    seqs = dict((t, []) for t in range(threads))
    for line in open(dump, errors="replace"):
        m = re.search(r"seq: (\d+), thread: (\d+),", line)
        if m:
            seqs.setdefault(int(m.group(2)), []).append(int(m.group(1)))
    bad = []
    for t, s in sorted(seqs.items()):
        if s != list(range(len(s))) or (n >= 0 and len(s) != n):
            bad.append("thread %d: %d messages (want %s), in order: %s" % (
                t, len(s), n if n >= 0 else "a prefix", s == sorted(s)))
    total = sum(len(s) for s in seqs.values())
    print("; ".join(bad) if bad else "ok: %d messages from %d connections" % (total, len(seqs)))
    return 1 if bad else 0

def acked(ack_file, dump):
    count = {}
    for line in open(dump, errors="replace"):
        count[line] = count.get(line, 0) + 1
    missing = dup = n = 0
    for line in open(ack_file):
        n += 1
        c = count.get(line, 0)
        missing += c == 0
        dup += c > 1
    print("%d acknowledged: %d missing, %d more than once" % (n, missing, dup))
    return 1 if missing or dup else 0

if __name__ == "__main__":
    a = sys.argv
    if a[1] == "relp":
        relp(int(a[2]), a[3], int(a[4]), a[5], int(a[6]) if len(a) > 6 else 0)
    elif a[1] == "many":
        many(int(a[2]), int(a[3]), a[4])
    elif a[1] == "bad":
        bad(int(a[2]), a[3])
    elif a[1] == "relp_abuse":
        relp_abuse(int(a[2]), a[3])
    elif a[1] == "hold":
        hold(int(a[2]), int(a[3]), int(a[4]), a[5])
    elif a[1] == "churn":
        churn(int(a[2]), int(a[3]), a[4])
    elif a[1] == "send":
        send(int(a[2]), a[3])
    elif a[1] == "check":
        only = "--only" in a
        sys.exit(check(a[2], [x for x in a[3:] if x != "--only"], only))
    elif a[1] == "loggen":
        sys.exit(loggen(a[2], int(a[3]), int(a[4])))
    elif a[1] == "acked":
        sys.exit(acked(a[2], a[3]))
