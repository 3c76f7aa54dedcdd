/* SPDX-License-Identifier: MIT */
/*
 * Target tests: every error status of the emulated targets, exact to the
 * bit (status code, type and DNR), with the CQE contract on each: user_data
 * echoed, dma_addr == buf_offset, len = bytes on success and 0 on error,
 * IO_UNIFIED_CQE_F_HOST on host-made statuses.  A rejected command must not
 * touch the device or the buffer.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include "helpers.h"

/* Put a known pattern on the last 16 LBAs; returns its seed. */
static uint64_t tail_pattern(struct th_ctx *c)
{
	uint64_t seed = th_rand();

	if (th_raw_pattern(c, c->nlba - 16, 16, seed))
		return 0;
	return seed;
}

/* The last 16 LBAs still hold the pattern of @seed. */
static bool tail_intact(struct th_ctx *c, uint64_t seed)
{
	size_t len = 16u * c->lba;
	uint8_t *want = malloc(len), *got = malloc(len);
	bool ok = want && got && !th_raw_read(c, c->nlba - 16, 16, got);

	if (ok) {
		th_fill(want, len, seed);
		ok = !memcmp(want, got, len);
	}
	free(want);
	free(got);
	return ok;
}

static void prep(struct th_ctx *c, struct io_unified_sqe *s, uint8_t op, uint64_t slba, uint32_t nlb,
		 uint64_t off, uint64_t ud)
{
	if (op == IO_UNIFIED_NVME_CMD_WRITE_ZEROES)
		unified_prep_write_zeroes(s, c->nsid, slba, nlb, ud);
	else
		unified_prep_rw(s, op, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

static const uint8_t range_ops[] = { IO_UNIFIED_NVME_CMD_READ, IO_UNIFIED_NVME_CMD_WRITE,
				     IO_UNIFIED_NVME_CMD_COMPARE, IO_UNIFIED_NVME_CMD_WRITE_ZEROES };

/* Read/Write/Compare/Write Zeroes past the last LBA and straddling it. */
static void err_past_end(struct th_ctx *c)
{
	struct { uint64_t slba; uint32_t nlb; } bad[] = {
		{ c->nlba, 1 }, { c->nlba - 1, 2 }, { c->nlba - 8, 16 }, { c->nlba + 1000, 1 },
		{ c->nlba - 1, 65536 },
	};
	uint64_t seed = tail_pattern(c);
	size_t i, k;

	REQUIRE(seed, "raw write of the tail pattern failed");
	for (k = 0; k < sizeof(range_ops); k++) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct io_unified_sqe s;
			uint32_t nlb = bad[i].nlb;
			int st;

			/* keep data commands within MDTS so only the range is wrong */
			if (range_ops[k] != IO_UNIFIED_NVME_CMD_WRITE_ZEROES && nlb * c->lba > TH_MAX_XFER)
				nlb = TH_MAX_XFER / c->lba;
			size_t blen = (size_t)nlb * c->lba > TH_MAX_XFER ? TH_MAX_XFER : (size_t)nlb * c->lba;

			th_fill(c->buf, blen, th_rand());
			memcpy(c->buf + (2u << 20), c->buf, blen);
			prep(c, &s, range_ops[k], bad[i].slba, nlb, 0, (k << 8) | i);
			st = EXEC_EXPECT(c, &s, ST_LBA_RANGE, 0);
			if (st > 0) {
				CHECK(st & IO_UNIFIED_STATUS_DNR, "DNR not set");
				CHECK(IO_UNIFIED_STATUS_SCT(st) == IO_UNIFIED_SCT_GENERIC &&
				      IO_UNIFIED_STATUS_SC(st) == IO_UNIFIED_SC_LBA_RANGE,
				      "SCT/SC of 0x%x", st);
			}
			CHECK(!memcmp(c->buf, c->buf + (2u << 20), blen),
			      "opcode 0x%02x past the end changed the buffer", range_ops[k]);
		}
	}
	CHECK(tail_intact(c, seed), "a rejected command changed the last LBAs");
	/* The very last LBA itself is fine for every command. */
	th_fill(c->buf, c->lba, seed ^ 1);
	for (k = 0; k < sizeof(range_ops); k++) {
		struct io_unified_sqe s;

		prep(c, &s, range_ops[k], c->nlba - 1, 1, 0, 0x100 + k);
		EXEC_EXPECT(c, &s, ST_OK, range_ops[k] == IO_UNIFIED_NVME_CMD_WRITE_ZEROES ? 0 : c->lba);
	}
}

/* SLBA values whose byte offset or end wrap around 2^64. */
static void err_slba_overflow(struct th_ctx *c)
{
	const struct { uint64_t slba; uint32_t nlb; } bad[] = {
		{ UINT64_MAX, 1 }, { UINT64_MAX - 1, 4 }, { UINT64_MAX - 2, 8 },
		{ 1ull << 63, 1 }, { (UINT64_MAX >> 9) + 1, 1 }, { (UINT64_MAX >> 12) + 1, 1 },
		{ 1ull << 32, 1 }, { (1ull << 32) + 5, 1 },
	};
	uint64_t seed = tail_pattern(c), head_seed = th_rand();
	uint8_t *head = malloc(16u * c->lba), *got = malloc(16u * c->lba);
	size_t i, k;

	REQUIRE(seed && head && got, "set-up failed");
	REQUIRE(th_raw_pattern(c, 0, 16, head_seed) == 0, "raw write");
	for (k = 0; k < sizeof(range_ops); k++)
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct io_unified_sqe s;

			th_fill(c->buf, (size_t)bad[i].nlb * c->lba, th_rand());	/* <= 8 LBAs */
			prep(c, &s, range_ops[k], bad[i].slba, bad[i].nlb, 0, 0xe000 + (k << 8) + i);
			EXEC_EXPECT(c, &s, ST_LBA_RANGE, 0);
		}
	/* A wrapped offset must not have landed at the start of the device. */
	th_fill(head, 16u * c->lba, head_seed);
	CHECK(th_raw_read(c, 0, 16, got) == 0 && !memcmp(head, got, 16u * c->lba),
	      "an overflowing command changed the first LBAs");
	CHECK(tail_intact(c, seed), "an overflowing command changed the last LBAs");
	free(head);
	free(got);
}

/* Unknown I/O and admin opcodes: Invalid Command Opcode, nothing done. */
static void err_invalid_opcode(struct th_ctx *c)
{
	const uint8_t io_ops[] = { 0x7f, 0x04, 0x0d, 0x11, 0x80, 0x81, 0xff };
	const uint8_t admin_ops[] = { 0x7f, 0x01, 0x05, 0xc0, 0xff };
	struct io_unified_sqe s;
	struct io_unified_cqe q;
	size_t i;

	for (i = 0; i < sizeof(io_ops); i++) {
		memset(c->buf, 0x3c, 8192);
		unified_prep_nvme(&s, io_ops[i], c->nsid, 0, 4096, 0xa0a0000000000000ull | i);
		s.nvme_cmd.cdw12 = 7;
		REQUIRE(th_exec(c, &s, &q) == 0, "no completion");
		EXPECT_CQE(&q, &s, ST_INV_OPCODE, 0);
		CHECK(q.flags & IO_UNIFIED_CQE_F_HOST, "I/O opcode 0x%02x: no HOST flag", io_ops[i]);
		CHECK(!memcmp(c->buf, c->buf + 4096, 4096), "opcode 0x%02x touched the buffer",
		      io_ops[i]);
	}
	/* The plain spelling of the brief: opcode 0x7f without a buffer. */
	unified_prep_nvme(&s, 0x7f, c->nsid, 0, 0, 0x7f7f);
	EXEC_EXPECT(c, &s, ST_INV_OPCODE, 0);
	for (i = 0; i < sizeof(admin_ops); i++) {
		unified_prep_nvme(&s, admin_ops[i], 0, 8192, 4096, 0xadadadad00000000ull | i);
		s.flags = IO_UNIFIED_SQE_F_ADMIN;
		REQUIRE(th_exec(c, &s, &q) == 0, "no completion");
		EXPECT_CQE(&q, &s, ST_INV_OPCODE, 0);
	}
	unified_prep_nvme(&s, 0x7f, 0, 0, 0, 0xad7f);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	EXEC_EXPECT(c, &s, ST_INV_OPCODE, 0);
}

/* Wrong namespace on I/O commands: Invalid Namespace or Format. */
static void err_invalid_ns(struct th_ctx *c)
{
	const uint32_t ns[] = { 0, 2, 0xfffffffeu, 0xffffffffu };
	uint64_t seed = tail_pattern(c);
	size_t i, k;

	REQUIRE(seed, "raw write");
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		for (k = 0; k < sizeof(range_ops); k++) {
			struct io_unified_sqe s;

			prep(c, &s, range_ops[k], c->nlba - 4, 4, 0, 0x5500 + (i << 4) + k);
			s.nvme_cmd.nsid = ns[i];
			EXEC_EXPECT(c, &s, ST_INV_NS, 0);
		}
		if (ns[i] != 0xffffffffu) {	/* FFFFFFFFh is valid for Flush */
			struct io_unified_sqe s;

			unified_prep_flush(&s, ns[i], 0x55f0 + i);
			EXEC_EXPECT(c, &s, ST_INV_NS, 0);
		}
	}
	CHECK(tail_intact(c, seed), "a command for another namespace changed the data");
}

/* SQE fields the engine validates: Invalid Field in Command, no effect. */
static void err_invalid_field(struct th_ctx *c)
{
	uint64_t seed = tail_pattern(c), slba = c->nlba - 4;
	uint32_t len = 4 * c->lba;
	struct io_unified_sqe s;
	int i;

	REQUIRE(seed, "raw write");
	th_fill(c->buf, TH_MAX_XFER + 4096, th_rand());
	for (i = 0; i < 16; i++) {
		th_prep_write(c, &s, slba, 4, 0, 0xf1e1d000u + (uint32_t)i);
		switch (i) {
		case 0: s.len = len - c->lba; break;			/* len != NLB bytes */
		case 1: s.len = len + c->lba; break;
		case 2: s.nvme_cmd.data_len = len * 2; break;		/* data_len != len */
		case 3: s.buf_offset = 1; break;			/* misaligned */
		case 4: s.buf_offset = 256; break;
		case 5: s.buf_offset = c->buf_bytes - len + 512; break;	/* runs past the area */
		case 6: s.buf_offset = c->buf_bytes; break;
		case 7: s.buf_offset = UINT64_MAX - 511; break;	/* offset + len wraps */
		case 8: s.flags = 1u << 1; break;			/* unknown SQE flag */
		case 9: s.__resv[3] = 1; break;				/* reserved */
		case 10: s.nvme_cmd.flags = 1; break;			/* FUSE/PSDT */
		case 11: s.nvme_cmd.rsvd1 = 1; break;
		case 12: s.nvme_cmd.rsvd2 = 1; break;
		case 13: s.nvme_cmd.metadata = 4096; break;		/* no separate metadata */
		case 14: s.nvme_cmd.metadata_len = 8; break;
		case 15:						/* beyond MDTS */
			th_prep_write(c, &s, 0, TH_MAX_XFER / c->lba + 1, 0, 0xf1e1d000u + (uint32_t)i);
			break;
		}
		/* a misaligned buffer gets NVMe's PRP Offset Invalid (item 10) */
		EXEC_EXPECT(c, &s, i == 3 || i == 4 ? ST_PRP_OFFSET : ST_INV_FIELD, 0);
	}
	/* The same on a Read: the buffer stays as it was. */
	memset(c->buf, 0x99, 2 * len);
	th_prep_read(c, &s, slba, 4, 0, 0xf1e1e000u);
	s.len = len * 2;
	EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
	CHECK(c->buf[0] == 0x99 && c->buf[len] == 0x99 && c->buf[2 * len - 1] == 0x99,
	      "rejected read wrote the buffer");
	CHECK(tail_intact(c, seed), "a rejected write changed the device");

	/* What is allowed: data_len == len; len 0 with data_len; len 0 alone
	 * (derived from NLB); addr set (advisory, ignored). */
	th_prep_read(c, &s, slba, 4, 4096, 0xa1);
	s.nvme_cmd.data_len = len;
	EXEC_EXPECT(c, &s, ST_OK, len);
	th_prep_read(c, &s, slba, 4, 4096, 0xa2);
	s.len = 0;
	s.nvme_cmd.data_len = len;
	EXEC_EXPECT(c, &s, ST_OK, len);
	th_prep_read(c, &s, slba, 4, 4096, 0xa3);
	s.len = 0;
	EXEC_EXPECT(c, &s, ST_OK, len);
	memset(c->buf + 8192, 0, len);
	th_prep_read(c, &s, slba, 4, 8192, 0xa4);
	s.nvme_cmd.addr = (uintptr_t)c->buf;	/* points elsewhere: must be ignored */
	if (EXEC_EXPECT(c, &s, ST_OK, len) == 0) {
		uint8_t *want = malloc(len);

		REQUIRE(want, "no memory");
		CHECK(th_raw_read(c, slba, 4, want) == 0, "raw read");
		CHECK(!memcmp(want, c->buf + 8192, len), "read did not land at buf_offset");
		free(want);
	}
}

/* DSM whose range list lies outside the buffer area (len derived from NR,
 * so only the emulation can check it). */
static void err_dsm_buffer(struct th_ctx *c)
{
	const uint64_t offs[] = { c->buf_bytes, c->buf_bytes - 8, c->buf_bytes + 4096,
				  UINT64_MAX - 15, UINT64_MAX & ~4095ull };
	struct io_unified_sqe s;
	size_t i;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		unified_prep_dsm_deallocate(&s, c->nsid, 1, offs[i], 0xd5000 + i);
		s.len = 0;
		EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
		unified_prep_dsm_deallocate(&s, c->nsid, 1, offs[i], 0xd5100 + i);
		EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
	}
}

/*
 * One batch mixing successes and every error kind, with unusual user_data
 * and buffer offsets: each CQE is matched to its SQE by user_data alone.
 */
static void err_cqe_contract(struct th_ctx *c)
{
	enum { N = 12 };
	const uint64_t ud[N] = { 0, UINT64_MAX, 1ull << 63, 0x0123456789abcdefull, 42,
				 0xfffffffful, 0x100000000ull, 7, 8, 9, 10, 11 };
	struct io_unified_sqe s[N];
	struct io_unified_cqe q[N];
	uint16_t want[N];
	uint32_t wlen[N];
	bool seen[N] = { false };
	uint64_t hi = c->buf_bytes - 4096;
	int i, j;

	th_fill(c->buf, c->buf_bytes, th_rand());
	th_prep_write(c, &s[0], 0, 4096 / c->lba, hi, ud[0]);
	want[0] = ST_OK; wlen[0] = 4096;
	th_prep_read(c, &s[1], 0, 4096 / c->lba, 4096 * 7 + 512, ud[1]);
	want[1] = ST_OK; wlen[1] = 4096;
	th_prep_read(c, &s[2], c->nlba, 1, 4096 * 9, ud[2]);
	want[2] = ST_LBA_RANGE; wlen[2] = 0;
	unified_prep_nvme(&s[3], 0x7f, c->nsid, 4096 * 11, 0, ud[3]);
	want[3] = ST_INV_OPCODE; wlen[3] = 0;
	th_prep_read(c, &s[4], 0, 1, 4096 * 13, ud[4]);
	s[4].nvme_cmd.nsid = 9;
	want[4] = ST_INV_NS; wlen[4] = 0;
	th_prep_read(c, &s[5], 0, 1, 3, ud[5]);
	want[5] = ST_PRP_OFFSET; wlen[5] = 0;
	unified_prep_identify(&s[6], 0x01, 0, 4096 * 15, ud[6]);
	want[6] = ST_OK; wlen[6] = 4096;
	unified_prep_identify(&s[7], 0x09, 0, 4096 * 17, ud[7]);
	want[7] = ST_INV_FIELD; wlen[7] = 0;
	unified_prep_flush(&s[8], c->nsid, ud[8]);
	want[8] = ST_OK; wlen[8] = 0;
	unified_prep_write_zeroes(&s[9], c->nsid, UINT64_MAX, 1, ud[9]);
	want[9] = ST_LBA_RANGE; wlen[9] = 0;
	unified_prep_nvme(&s[10], 0xc1, 0, 4096 * 19, 4096, ud[10]);
	s[10].flags = IO_UNIFIED_SQE_F_ADMIN;
	want[10] = ST_INV_OPCODE; wlen[10] = 0;
	th_prep_read(c, &s[11], 0, 1, 1ull << 40, ud[11]);
	want[11] = ST_INV_FIELD; wlen[11] = 0;

	REQUIRE(th_submit(c, s, N) == 0, "submit");
	REQUIRE(th_reap(c, q, N) == N, "not all %d completions arrived", N);
	for (i = 0; i < N; i++) {
		for (j = 0; j < N && ud[j] != q[i].user_data; j++)
			;
		REQUIRE(j < N && !seen[j], "CQE %d: unknown or duplicate user_data 0x%" PRIx64, i,
			(uint64_t)q[i].user_data);
		seen[j] = true;
		EXPECT_CQE(&q[i], &s[j], want[j], wlen[j]);
		if (want[j])
			CHECK(q[i].flags & IO_UNIFIED_CQE_F_HOST, "status 0x%x without HOST", want[j]);
	}
	/* After all that the target still works. */
	th_fill(c->buf, 4096, 1234);
	if (th_write(c, 8, 4096 / c->lba, 0) == 0 && th_read(c, 8, 4096 / c->lba, 4096) == 0)
		CHECK(!memcmp(c->buf, c->buf + 4096, 4096), "I/O after errors is wrong");
}

/*
 * The file shrinks under the namespace: a Read or Compare that gets fewer
 * bytes than asked is a Data Transfer Error (host errno -EIO), not success
 * with stale buffer contents.  Files only (a loop device keeps its size).
 */
static void err_short_transfer(struct th_ctx *c)
{
	uint64_t half = c->nlba / 2;
	struct io_unified_sqe s;
	struct io_unified_cqe q;
	int fd, i;

	if (th_cur->kind != TH_FILE)
		SKIP("only a regular file can shrink under the namespace");
	fd = open(th_cur->path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s: %s", th_cur->path, strerror(errno));
	REQUIRE(ftruncate(fd, (off_t)(half * c->lba)) == 0, "ftruncate: %s", strerror(errno));
	for (i = 0; i < 3; i++) {
		uint8_t op = i == 2 ? IO_UNIFIED_NVME_CMD_COMPARE : IO_UNIFIED_NVME_CMD_READ;
		uint64_t slba = i == 0 ? c->nlba - 1 : half - 1;

		memset(c->buf, 0x6b, 2u * c->lba);
		unified_prep_rw(&s, op, c->nsid, slba, 2 - (i == 0), 0, (2 - (i == 0)) * c->lba,
				0x5407 + i);
		if (th_exec(c, &s, &q)) {
			CHECK(0, "no completion");
			break;
		}
		EXPECT_CQE(&q, &s, 0x4004, 0);
		CHECK((q.flags & IO_UNIFIED_CQE_F_ERRNO) && q.res == -EIO,
		      "short transfer: flags 0x%x res %d, expected ERRNO and -EIO", q.flags, q.res);
	}
	/* Restore the size: the same reads succeed (zeros past the old end). */
	CHECK(ftruncate(fd, (off_t)TH_DEV_BYTES) == 0, "ftruncate back: %s", strerror(errno));
	close(fd);
	memset(c->buf, 0x6b, c->lba);
	if (th_read(c, c->nlba - 1, 1, 0) == 0)
		CHECK(th_nonzero(c->buf, c->lba) < 0, "re-grown range does not read as zeros");
}

/*
 * The kernel refuses the operation: the file behind the namespace is made
 * immutable.  On a file target the engine sees EPERM: Write, Write Zeroes
 * and deallocation complete with Internal Error, IO_UNIFIED_CQE_F_ERRNO and
 * res = -EPERM.  On a loop device the block layer reports EIO: Write
 * becomes the media error Write Fault (0x4280) with res = -EIO
 * (loop's own fallocate path does not check the immutable flag, so Write
 * Zeroes and deallocation are not tried there).  Reads still work.
 */
static void err_host_errno(struct th_ctx *c)
{
	const uint8_t ops[] = { IO_UNIFIED_NVME_CMD_WRITE, IO_UNIFIED_NVME_CMD_WRITE_ZEROES,
				IO_UNIFIED_NVME_CMD_DSM };
	const char *path = th_cur->kind == TH_FILE ? th_cur->path : th_cur->backing;
	bool file = th_cur->kind == TH_FILE;
	int fd, flags = 0, r;
	size_t i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s: %s", path, strerror(errno));
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) || (flags |= FS_IMMUTABLE_FL,
						   ioctl(fd, FS_IOC_SETFLAGS, &flags))) {
		r = errno;
		close(fd);
		SKIP("cannot make %.300s immutable: %s", path, strerror(r));
	}
	th_immutable_fd = fd;
	for (i = 0; i < (file ? sizeof(ops) : 1); i++) {
		struct io_unified_sqe s;
		struct io_unified_cqe q;
		uint16_t want = ST_WRITE_PROT;	/* EPERM on an immutable file (item 10) */

		if (ops[i] == IO_UNIFIED_NVME_CMD_DSM) {
			struct unified_dsm_range rg = { .nlb = 8, .slba = 64 };

			memcpy(c->buf + 65536, &rg, sizeof(rg));
			unified_prep_dsm_deallocate(&s, c->nsid, 1, 65536, 0xe9);
		} else {
			prep(c, &s, ops[i], 64, 8, 0, 0xe0 + i);
		}
		if (!file && ops[i] == IO_UNIFIED_NVME_CMD_WRITE)
			want = 0x4280;	/* Write Fault */
		if (th_exec(c, &s, &q)) {
			CHECK(0, "no completion");
			break;
		}
		EXPECT_CQE(&q, &s, want, 0);
		CHECK((q.flags & IO_UNIFIED_CQE_F_ERRNO) && q.res == (file ? -EPERM : -EIO),
		      "opcode 0x%02x: flags 0x%x res %d, expected ERRNO and %d", ops[i], q.flags,
		      q.res, file ? -EPERM : -EIO);
	}
	th_read(c, 64, 8, 0);
	flags &= ~FS_IMMUTABLE_FL;
	CHECK(ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0, "clearing immutable: %s", strerror(errno));
	th_immutable_fd = -1;
	close(fd);
	th_write(c, 64, 8, 0);
}

int main(int argc, char **argv)
{
	static const struct th_case cases[] = {
		{ "past_end", err_past_end, false },
		{ "slba_overflow", err_slba_overflow, false },
		{ "invalid_opcode", err_invalid_opcode, false },
		{ "invalid_ns", err_invalid_ns, false },
		{ "invalid_field", err_invalid_field, false },
		{ "dsm_buffer", err_dsm_buffer, false },
		{ "cqe_contract", err_cqe_contract, false },
		{ "short_transfer", err_short_transfer, false },
		{ "host_errno", err_host_errno, false },
	};

	return th_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
