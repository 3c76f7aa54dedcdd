#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of the libFuzzer harnesses (tests/fuzz/corpus/NAME/)
and minimal reproducers of known findings (tests/fuzz/crashes/NAME/).

The corpus: a few well-formed inputs per harness, in the formats their header
comments describe: valid Read/Write/Flush/... batches, batches with invalid
fields and with ring corruption; valid and invalid registrations; sane and
wrapping ring-helper sequences.  The crashes: the smallest inputs that show
each finding (tests/fuzz/crashes/README.md); `tests/fuzz/run.sh --replay`
runs them.  Run this again after changing an input format:

    python3 tests/fuzz/mkcorpus.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
CRASHES = os.path.join(HERE, "crashes")

# ------------------------------------------------------------ fuzz_sqe_batch

READ, WRITE, FLUSH, COMPARE, WZ, DSM = 0x02, 0x01, 0x00, 0x05, 0x08, 0x09
IDENTIFY = 0x06
F_ADMIN = 1


def sqe(opcode, nsid=1, cdw10=0, cdw11=0, cdw12=0, buf_offset=0, length=0, flags=0,
        nflags=0, rsvd1=0, metadata=0, metadata_len=0, data_len=0, resv=(0, 0, 0, 0)):
    cmd = struct.pack("<BBHIIIQQII6III", opcode, nflags, rsvd1, nsid, 0, 0, metadata, 0,
                      metadata_len, data_len, cdw10, cdw11, cdw12, 0, 0, 0, 0, 0)
    tail = struct.pack("<QQII4Q", 0, buf_offset, length, flags, *resv)
    out = cmd + tail
    assert len(out) == 128
    return out


def rw(opcode, slba, nlb, off, lba):
    return sqe(opcode, cdw10=slba & 0xffffffff, cdw11=slba >> 32, cdw12=nlb - 1,
               buf_offset=off, length=nlb * lba)


def batch_header(lba512=False, chunk=4, events=()):
    """events: up to three (word, round, how, value); word 1 SQ prod, 2 SQ cons, 3 CQ cons;
    how 0 add, 1 set, 2 xor, 3 add a signed byte."""
    sel = [0, 0, 0]
    val = [0, 0, 0]
    for i, (word, rnd, how, v) in enumerate(events):
        sel[i] = word | (rnd << 2) | (how << 5)
        val[i] = v & 0xffffffff
    return struct.pack("<BB3B3x3I", 1 if lba512 else 0, chunk - 1, *sel, *val)


def valid_batch(lba):
    blocks = 4096 // lba
    return [
        rw(WRITE, 0, blocks, 0, lba),
        rw(READ, 0, blocks, 4096, lba),
        sqe(FLUSH),
        sqe(WRITE, cdw10=8 * blocks, cdw12=(2 * blocks - 1) | (1 << 30), buf_offset=8192,
            length=8192),                                   # Write with FUA
        sqe(WZ, cdw10=16 * blocks, cdw12=4 * blocks - 1),
        rw(COMPARE, 0, blocks, 0, lba),
        sqe(IDENTIFY, nsid=0, cdw10=1, buf_offset=16384, length=4096, flags=F_ADMIN),
        sqe(IDENTIFY, nsid=1, cdw10=0, buf_offset=20480, length=4096, flags=F_ADMIN),
        sqe(DSM, cdw10=0, cdw11=1 << 2, buf_offset=24576, length=16),
        rw(READ, 255 * blocks, blocks, 61440, lba),           # last block, last buffer
    ]


def invalid_batch():
    return [
        sqe(READ, cdw12=0, length=4096, resv=(1, 0, 0, 0)),  # reserved field
        sqe(READ, cdw12=0, length=4096, flags=0x80),          # unknown SQE flag
        sqe(READ, cdw12=0, length=4096, metadata=0x1000),     # metadata pointer
        sqe(READ, cdw12=0, length=4096, metadata_len=64),     # metadata length
        sqe(READ, cdw12=0, length=4096, nflags=0x40),         # PSDT/FUSE
        sqe(READ, nsid=2, cdw12=0, length=4096),              # another namespace
        sqe(READ, cdw12=0, length=4096, buf_offset=65536),    # past the data area
        sqe(READ, cdw12=0, length=4096, buf_offset=(1 << 64) - 4096),  # wraps
        sqe(READ, cdw12=1, length=4096),                      # len != NLB x LBA
        sqe(WRITE, cdw12=0, length=4096, data_len=8192),      # data_len != len
        sqe(0x7f, length=0),                                  # unknown I/O opcode
        sqe(READ, cdw12=0, length=4096, rsvd1=1),             # rsvd1
    ]


def dealloc_batch():
    # The SQE bytes are copied to the start of the data area, so SQE 0 doubles as the
    # DSM range list: cattr 0 (opcode, flags, rsvd1 = 0, nsid 0), nlb 8 (cdw2), slba 16 (cdw3).
    carrier = struct.pack("<BBHIII", FLUSH, 0, 0, 0, 8, 16) + bytes(128 - 16)
    return [
        carrier,                                               # Flush of namespace 0: fails
        sqe(DSM, cdw10=0, cdw11=1 << 2, buf_offset=0, length=16),     # deallocate LBAs 16..23
        sqe(WZ, cdw10=32, cdw12=7 | (1 << 25)),                 # Write Zeroes with DEAC
        sqe(WZ, cdw10=40, cdw12=3 | (1 << 30)),                 # Write Zeroes with FUA
        rw(READ, 16, 1, 4096, 4096),                           # reads back zeroes
    ]


def sqe_batch():
    full = [rw(READ, i, 1, (i % 16) * 4096, 4096) for i in range(40)]
    return {
        "valid-4k": batch_header(False, 4) + b"".join(valid_batch(4096)),
        "valid-512": batch_header(True, 3) + b"".join(valid_batch(512)),
        "invalid-fields": batch_header(False, 5) + b"".join(invalid_batch()),
        "corrupt-insane": batch_header(False, 2, [(1, 0, 0, 1000), (3, 1, 3, 0xff),
                                                  (2, 2, 1, 12345)])
        + b"".join(valid_batch(4096)[:6]),
        "corrupt-sane-ahead": batch_header(False, 2, [(1, 0, 0, 3), (1, 2, 2, 0x10)])
        + b"".join(valid_batch(4096)[:4]),
        "full-ring": batch_header(False, 16) + b"".join(full),
        "deallocate": batch_header(False, 5) + b"".join(dealloc_batch()),
    }

# ------------------------------------------------------------ fuzz_register


def v32(x):
    return struct.pack("<BI", 0xff, x & 0xffffffff)


def delta(x):          # USER size: the layout's size plus a signed delta
    return struct.pack("<BI", 0xf0, x & 0xffffffff)


def v64(x):
    return struct.pack("<BQ", 0xff, x)


MODE_KICK, MODE_THREAD = 0, 1
OPT_CREATE = 4
REGION_USER, REGION_HUGE, REGION_NUMA = 1, 2, 4


def reg(path=1, mask=0, ri=0, sq=16, cq=0, nbuf=16, bsz=4096, rflags=0, dflags=0, numa=0,
        usize=0, uoff=0, mode=MODE_KICK, oflags=0, lba=0, spin=0, fsize=0, ctrl=0, fds=0,
        name=b""):
    out = struct.pack("<BBB", path, mask, ri)
    out += v32(sq) + v32(cq) + v32(nbuf) + v32(bsz) + v32(rflags) + v32(dflags) + v32(numa)
    out += delta(usize) + v32(uoff) + v32(mode) + v32(oflags) + v32(lba) + v32(spin)
    out += v64(fsize) + v32(ctrl) + bytes([fds])
    if path == 12:
        out += bytes([len(name) - 1]) + name
    return out


def register():
    return {
        "anon-file": reg(),
        "user-exact": reg(dflags=REGION_USER),
        "user-short": reg(dflags=REGION_USER, usize=-4096),
        "user-misaligned": reg(dflags=REGION_USER, uoff=512, usize=4096),
        "default-thread": reg(path=0, mode=MODE_THREAD, oflags=OPT_CREATE, fsize=1 << 20),
        "create-512": reg(path=2, oflags=OPT_CREATE, lba=512, fsize=64 << 10, sq=8, cq=64),
        "big-buffers": reg(bsz=8192, nbuf=8, sq=32),
        "huge": reg(dflags=REGION_HUGE),
        "numa0": reg(dflags=REGION_NUMA, numa=0),
        "bad-geometry": reg(sq=24, bsz=1000),
        "named": reg(path=12, oflags=OPT_CREATE, fsize=1 << 20, name=b"fuzzed-name.dat"),
        "no-fd-for-target": reg(fds=1),
        "fd-for-target-only": reg(dflags=REGION_USER, fds=2),
    }

# ------------------------------------------------------------ fuzz_rings


def op(code, arg=0):
    return struct.pack("<BI", code, arg & 0xffffffff)


def rings():
    sane = (op(6, 3) + op(7, 4) + op(1, 4) + op(13, 0) + op(2, 4) + op(9, 3) + op(10, 4)
            + op(12, 0) + op(6, 31) + op(8, 32) + op(9, 0) + op(11, 1))
    wrap = (op(0, 0xfffffff0) + op(1, 0xfffffff0) + op(4) + op(2, 0xfffffff8)
            + op(3, 0xfffffff8) + op(5) + op(6, 19) + op(7, 20) + op(1, 0x4) + op(6, 9)
            + op(7, 10) + op(2, 0x4) + op(9, 7) + op(10, 8) + op(12, 1))
    return {"sane": sane, "wrap": wrap}


def register_crashes():
    # Issue 6 item 5: a failed registration writes caller memory.  Thread mode,
    # USER memory, room for two new descriptors (the target and the io_uring):
    # the eventfd fails with -EMFILE after the ring area was cleared.
    return {"thread-no-fd-for-eventfd": reg(dflags=REGION_USER, mode=MODE_THREAD, fds=3)}


def rings_crashes():
    # Issue 6 item 12: the helpers trust the peer's index.
    return {
        # SQ consumer 64 ahead of producer 0 on a 32-entry ring: reserve(96) gives 96.
        "sq-reserve-consumer-ahead": op(1, 64) + op(6, 95),
        # The same state: nb_free() reports 96 free slots of 32.
        "sq-nb-free-consumer-ahead": op(1, 64) + op(13, 63),
        # CQ producer 2^31 on a 16-entry ring: peek(64) gives 64.
        "cq-peek-producer-jump": op(2, 0x80000000) + op(9, 63),
        # The same state: a peek/release loop hands out 2^31 entries.
        "cq-peek-loop-producer-jump": op(2, 0x80000000) + op(12, 15),
    }


# ------------------------------------------------------------ fuzz_framing

def framing():
    """Byte 0: the largest piece, byte 1: the message limit / 16, then a stream."""
    def octet(m):
        return b"%d %s" % (len(m), m)
    msg = b"<13>1 2026-12-01T00:00:00Z host app - - - hello"
    relp = (b"1 open 44 relp_version=0\nrelp_software=x\ncommands=syslog\n"
            b"2 syslog %d %s\n3 close 0\n" % (len(msg), msg))
    return {
        "octet": bytes([7, 16]) + octet(msg) * 3,
        "lf": bytes([3, 16]) + (msg + b"\n") * 3,
        "mixed": bytes([13, 255]) + octet(msg) + msg + b"\n\n" + octet(b"x"),
        "bad-count": bytes([1, 16]) + b"12x " + msg,
        "relp": bytes([5, 32]) + relp,
        "relp-lf-in-data": bytes([2, 32]) + b"7 syslog 5 a\nb\nc\n",
    }


def write(top, sets):
    count = size = 0
    for harness, files in sets.items():
        d = os.path.join(top, harness)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            count += 1
            size += len(data)
    print(f"mkcorpus: {count} files, {size} bytes in {top}", file=sys.stderr)


def main():
    write(OUT, {"fuzz_sqe_batch": sqe_batch(), "fuzz_register": register(),
                "fuzz_rings": rings(), "fuzz_framing": framing()})
    write(CRASHES, {"fuzz_register": register_crashes(), "fuzz_rings": rings_crashes()})


if __name__ == "__main__":
    main()
