/* SPDX-License-Identifier: MIT */
/*
 * SQE validation through a real registered engine on a file target: every
 * malformed field gives its exact NVMe status, CQE flags and errno; good
 * commands succeed; user_data is echoed; the pointer in nvme_cmd.addr is
 * ignored; entries in equal completions out.
 */
#include "helpers.h"

#define NBUF 512u
#define BSZ 4096u
#define AREA ((uint64_t)NBUF * BSZ)

#define HOSTERR (IO_UNIFIED_CQE_F_HOST | IO_UNIFIED_CQE_F_ERRNO)

static struct th_ctx T;
static uint64_t n_sub, n_err;
static int opened;

static void open_once(void)
{
	static const struct th_opts g = { .sq = 32, .cq = 64, .nbuf = NBUF, .bufsz = BSZ,
					  .mode = UNIFIED_MODE_KICK, .file_size = 64ull << 20 };

	if (!opened)
		opened = th_open(&T, &g) == 0 ? 1 : -1;
}

/* A valid 1-block read of LBA 0 into buffer 0. */
static void base(struct io_unified_sqe *s)
{
	unified_prep_read(s, T.info.nsid, 0, 1, 0, T.info.lba_size, 0);
}

/*
 * Submit @s with a fresh user_data; check the CQE: @status, @flags, @res
 * (when @status is 0: len == expected bytes).  Returns 0 if it completed.
 */
static int expect_(const char *file, int line, const char *what, struct io_unified_sqe *s,
		   uint16_t status, uint16_t flags, int32_t res)
{
	struct io_unified_cqe c;
	uint64_t ud = 0xabcd000000000000ull ^ (n_sub * 0x9e3779b97f4a7c15ull);
	int ret;

	s->user_data = ud;
	ret = th_exec(&T, s, &c);
	n_sub++;
	if (status)
		n_err++;
	if (ret) {
		h_fail(file, line, "%s: no completion (%d)", what, ret);
		return -1;
	}
	if (c.user_data != ud)
		h_fail(file, line, "%s: user_data 0x%llx, want 0x%llx", what,
		       (unsigned long long)c.user_data, (unsigned long long)ud);
	if (c.status != status || c.flags != flags || c.res != res)
		h_fail(file, line, "%s: status 0x%x flags 0x%x res %d, want 0x%x 0x%x %d (%s)", what,
		       c.status, c.flags, c.res, status, flags, res, unified_status_str(c.status));
	if (c.dma_addr != s->buf_offset)
		h_fail(file, line, "%s: dma_addr 0x%llx != buf_offset", what, (unsigned long long)c.dma_addr);
	if (status && c.len)
		h_fail(file, line, "%s: failed CQE reports len %u", what, c.len);
	if (c.__resv0 || c.__resv[0] || c.__resv[1] || c.__resv[2])
		h_fail(file, line, "%s: CQE reserved fields set", what);
	return 0;
}
#define expect(what, s, st, fl, res) expect_(__FILE__, __LINE__, what, s, st, fl, res)

#define BEGIN() \
	struct io_unified_sqe s; \
	open_once(); \
	REQUIRE(opened == 1, "register failed")

static void t_good_commands(void)
{
	struct io_unified_cqe c;
	uint32_t lba;

	BEGIN();
	lba = T.info.lba_size;
	CHECK(T.info.lba_size == 4096 && T.info.max_xfer == (1u << 20) && T.info.nsid == 1,
	      "target lba %u max_xfer %u nsid %u", T.info.lba_size, T.info.max_xfer, T.info.nsid);
	base(&s);
	expect("plain read", &s, 0, 0, 0);
	base(&s);
	s.nvme_cmd.data_len = s.len;
	expect("data_len == len", &s, 0, 0, 0);
	base(&s);
	s.nvme_cmd.data_len = s.len;
	s.len = 0;
	expect("len 0, data_len set", &s, 0, 0, 0);
	base(&s);
	s.len = 0;
	s.buf_offset = 7 * BSZ;
	s.user_data = 0;
	REQUIRE(th_exec(&T, &s, &c) == 0, "derived len");
	n_sub++;
	CHECK(c.status == 0 && c.len == lba, "len 0 derives NLB bytes: status 0x%x len %u", c.status, c.len);
	base(&s);
	s.buf_offset = 512;
	expect("buf_offset aligned to 512 only", &s, 0, 0, 0);
	unified_prep_read(&s, 1, 0, (1u << 20) / lba, 0, 1u << 20, 0);
	expect("exactly max_xfer", &s, 0, 0, 0);
	unified_prep_read(&s, 1, T.info.nlba - 1, 1, AREA - BSZ, lba, 0);
	expect("last LBA into the last buffer", &s, 0, 0, 0);
	base(&s);
	s.nvme_cmd.timeout_ms = 1000;
	s.nvme_cmd.cdw2 = s.nvme_cmd.cdw3 = 0xffffffffu;
	s.nvme_cmd.cdw13 = s.nvme_cmd.cdw14 = s.nvme_cmd.cdw15 = 0x12345678;
	expect("timeout and free cdws", &s, 0, 0, 0);
	unified_prep_flush(&s, 1, 0);
	expect("flush", &s, 0, 0, 0);
	unified_prep_flush(&s, 0xffffffffu, 0);
	expect("flush of all namespaces", &s, 0, 0, 0);
	unified_prep_identify(&s, 1, 0, 2 * BSZ, 0);
	expect("identify controller", &s, 0, 0, 0);
	unified_prep_identify(&s, 0, 1, 2 * BSZ, 0);
	expect("identify namespace", &s, 0, 0, 0);
	{
		const uint8_t *id = T.buf + 2 * BSZ;
		uint64_t nsze;

		memcpy(&nsze, id, 8);
		CHECK(nsze == T.info.nlba, "identify NSZE %llu != %llu", (unsigned long long)nsze,
		      (unsigned long long)T.info.nlba);
	}
	unified_prep_write_zeroes(&s, 1, 100, 4, 0);
	expect("write zeroes", &s, 0, 0, 0);
}

static void t_unknown_sqe_flags(void)
{
	static const uint32_t bits[] = { 1u << 1, 1u << 2, 1u << 16, 1u << 31, ~0u };
	size_t i;

	BEGIN();
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		base(&s);
		s.flags = bits[i];
		expect("unknown sqe flag", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	}
}

static void t_reserved_words(void)
{
	int i;

	BEGIN();
	for (i = 0; i < 4; i++) {
		base(&s);
		s.__resv[i] = 1ull << (i * 16);
		expect("sqe reserved word", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	}
	base(&s);
	s.nvme_cmd.flags = 0x40;
	expect("nvme_cmd.flags", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.nvme_cmd.rsvd1 = 1;
	expect("nvme_cmd.rsvd1", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.nvme_cmd.rsvd2 = 0x80000000u;
	expect("nvme_cmd.rsvd2", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.nvme_cmd.metadata = (uintptr_t)T.buf;
	expect("nvme_cmd.metadata", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.nvme_cmd.metadata_len = 8;
	expect("nvme_cmd.metadata_len", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	/* Admin commands get the same checks. */
	unified_prep_identify(&s, 1, 0, 0, 0);
	s.__resv[2] = 5;
	expect("admin reserved word", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
}

static void t_data_len_mismatch(void)
{
	BEGIN();
	base(&s);
	s.nvme_cmd.data_len = 2 * s.len;
	expect("data_len 2x len", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.nvme_cmd.data_len = s.len - 512;
	expect("data_len < len", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	base(&s);
	s.len = 0;
	s.nvme_cmd.data_len = 8192;
	expect("data_len (len 0) not matching NLB", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
}

static void t_buf_offset_out_of_area(void)
{
	static const uint64_t offs[] = { AREA, AREA + BSZ, AREA - 2048, AREA - 512, UINT64_MAX - 1,
					 UINT64_MAX - 4095, UINT64_MAX - 511, 1ull << 63, 1ull << 40 };
	size_t i;

	BEGIN();
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		base(&s);
		s.buf_offset = offs[i];
		expect("buf_offset/len outside the area", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
	}
	/* Identify (derived 4 KiB) hanging over the end. */
	unified_prep_identify(&s, 1, 0, AREA - 2048, 0);
	expect("identify over the end", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
	/* A 1 MiB read that starts inside but ends past the area. */
	unified_prep_read(&s, 1, 0, 256, AREA - (512u << 10), 1u << 20, 0);
	expect("1 MiB read over the end", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
}

static void t_buf_offset_misaligned(void)
{
	static const uint64_t offs[] = { 1, 100, 511, 513, BSZ + 1, BSZ + 256, AREA - BSZ - 1 };
	size_t i;

	BEGIN();
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		base(&s);
		s.buf_offset = offs[i];
		/* NVMe's status for a misaligned data pointer (issue 6 item 10) */
		expect("misaligned buf_offset", &s, IO_UNIFIED_STATUS(0, IO_UNIFIED_SC_PRP_OFFSET_INVALID) |
		       IO_UNIFIED_STATUS_DNR, HOSTERR, -EINVAL);
	}
}

static void t_transfer_too_big(void)
{
	uint32_t lba;

	BEGIN();
	lba = T.info.lba_size;
	unified_prep_read(&s, 1, 0, (1u << 20) / lba + 1, 0, (1u << 20) + lba, 0);
	expect("max_xfer + 1 block", &s, ST_INV_FIELD, HOSTERR, -E2BIG);
	unified_prep_write(&s, 1, 0, 65536, 0, 65536 * lba, 0);
	expect("65536 blocks", &s, ST_INV_FIELD, HOSTERR, -E2BIG);
	unified_prep_read(&s, 1, 0, 512, 0, 0, 0);
	expect("2 MiB derived from NLB", &s, ST_INV_FIELD, HOSTERR, -E2BIG);
}

static void t_wrong_nsid(void)
{
	static const uint32_t ns[] = { 0, 2, 0xfffffffeu, 0xffffffffu };
	size_t i;

	BEGIN();
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		base(&s);
		s.nvme_cmd.nsid = ns[i];
		expect("read with a wrong nsid", &s, ST_INV_NS, HOSTERR, -ENXIO);
	}
	unified_prep_write(&s, 7, 0, 1, 0, T.info.lba_size, 0);
	expect("write with a wrong nsid", &s, ST_INV_NS, HOSTERR, -ENXIO);
	unified_prep_flush(&s, 3, 0);
	expect("flush with a wrong nsid", &s, ST_INV_NS, HOSTERR, -ENXIO);
	unified_prep_identify(&s, 0, 9, 0, 0);
	expect("identify namespace 9", &s, ST_INV_NS, HOSTERR, -ENXIO);
}

static void t_len_not_matching_nlb(void)
{
	uint32_t lba;

	BEGIN();
	lba = T.info.lba_size;
	unified_prep_read(&s, 1, 0, 2, 0, lba, 0);
	expect("2 blocks, 1 block of len", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	unified_prep_read(&s, 1, 0, 1, 0, 2 * lba, 0);
	expect("1 block, 2 blocks of len", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	unified_prep_write(&s, 1, 0, 1, 0, lba - 512, 0);
	expect("write len short of a block", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	unified_prep_rw(&s, IO_UNIFIED_NVME_CMD_COMPARE, 1, 0, 4, 0, 3 * lba, 0);
	expect("compare len mismatch", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
}

static void t_unknown_opcode(void)
{
	static const uint8_t ops[] = { 0x03, 0x04, 0x0d, 0x7f, 0x80, 0x99, 0xff };
	size_t i;

	BEGIN();
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		unified_prep_nvme(&s, ops[i], 1, 0, 0, 0);
		expect("unknown I/O opcode", &s, ST_INV_OPCODE, IO_UNIFIED_CQE_F_HOST, 0);
	}
	unified_prep_nvme(&s, 0xc1, 1, 0, 4096, 0);
	s.flags = IO_UNIFIED_SQE_F_ADMIN;
	expect("unknown admin opcode", &s, ST_INV_OPCODE, IO_UNIFIED_CQE_F_HOST, 0);
	unified_prep_identify(&s, 0x55, 0, 0, 0);
	expect("identify with an unknown CNS", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
}

static void t_lba_out_of_range(void)
{
	uint32_t lba;

	BEGIN();
	lba = T.info.lba_size;
	unified_prep_read(&s, 1, T.info.nlba, 1, 0, lba, 0);
	expect("read at nlba", &s, ST_LBA_RANGE, HOSTERR, -ERANGE);
	unified_prep_write(&s, 1, T.info.nlba - 1, 2, 0, 2 * lba, 0);
	expect("write over the end", &s, ST_LBA_RANGE, HOSTERR, -ERANGE);
	unified_prep_read(&s, 1, UINT64_MAX, 1, 0, lba, 0);
	expect("slba ~0", &s, ST_LBA_RANGE, HOSTERR, -ERANGE);
	unified_prep_write_zeroes(&s, 1, T.info.nlba - 2, 3, 0);
	expect("write zeroes over the end", &s, ST_LBA_RANGE, HOSTERR, -ERANGE);
}

static void t_dsm(void)
{
	struct unified_dsm_range r = { 0, 4, 300 };

	BEGIN();
	memcpy(T.buf + 30 * BSZ, &r, sizeof(r));
	unified_prep_dsm_deallocate(&s, 1, 1, 30 * BSZ, 0);
	expect("dsm deallocate", &s, 0, 0, 0);
	r.slba = T.info.nlba;
	memcpy(T.buf + 30 * BSZ, &r, sizeof(r));
	unified_prep_dsm_deallocate(&s, 1, 1, 30 * BSZ, 0);
	expect("dsm range past the end", &s, ST_LBA_RANGE, HOSTERR, -ERANGE);
	unified_prep_dsm_deallocate(&s, 1, 2, 30 * BSZ, 0);
	s.len = 16;
	expect("dsm len short of its ranges", &s, ST_INV_FIELD, HOSTERR, -EINVAL);
	/* len 0: the ranges' size comes from NR, and must still be in the area. */
	unified_prep_dsm_deallocate(&s, 1, 1, AREA - 8, 0);
	s.len = 0;
	expect("dsm (len 0) ranges over the end", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
	unified_prep_dsm_deallocate(&s, 1, 256, UINT64_MAX - 4096, 0);
	s.len = 0;
	expect("dsm (len 0) at buf_offset ~0", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
	unified_prep_dsm_deallocate(&s, 1, 1, AREA + 4096, 0);
	s.len = 0;
	expect("dsm (len 0) past the area", &s, ST_INV_FIELD, HOSTERR, -EFAULT);
}

static void t_compare(void)
{
	uint32_t lba;

	BEGIN();
	lba = T.info.lba_size;
	memset(T.buf + 10 * BSZ, 0x5e, lba);
	unified_prep_write(&s, 1, 50, 1, 10 * BSZ, lba, 0);
	expect("write for compare", &s, 0, 0, 0);
	unified_prep_rw(&s, IO_UNIFIED_NVME_CMD_COMPARE, 1, 50, 1, 10 * BSZ, lba, 0);
	expect("compare equal", &s, 0, 0, 0);
	T.buf[10 * BSZ + 100] ^= 1;
	unified_prep_rw(&s, IO_UNIFIED_NVME_CMD_COMPARE, 1, 50, 1, 10 * BSZ, lba, 0);
	expect("compare different", &s, ST_CMP_FAILED, IO_UNIFIED_CQE_F_HOST, 0);
}

static void t_addr_is_ignored(void)
{
	uint32_t lba, i;
	uint8_t *src, *dst, *decoy;

	BEGIN();
	lba = T.info.lba_size;
	src = T.buf + 20 * BSZ;
	dst = T.buf + 21 * BSZ;
	decoy = T.buf + 22 * BSZ;
	for (i = 0; i < 2 * lba; i++)
		src[i] = (uint8_t)(i * 31 + 7);
	unified_prep_write(&s, 1, 200, 1, 20 * BSZ, lba, 0);
	s.nvme_cmd.addr = (uintptr_t)decoy;	/* the write must take src, not the decoy */
	memset(decoy, 0xd1, 2 * BSZ);
	expect("write with addr pointing elsewhere", &s, 0, 0, 0);
	memset(dst, 0, lba);
	unified_prep_read(&s, 1, 200, 1, 21 * BSZ, lba, 0);
	s.nvme_cmd.addr = 0xdeadbeefdeadbeefull;
	expect("read with a garbage addr", &s, 0, 0, 0);
	CHECK(!memcmp(src, dst, lba), "data did not land at buf_offset");
	memset(dst, 0, lba);
	unified_prep_read(&s, 1, 200, 1, 21 * BSZ, lba, 0);
	s.nvme_cmd.addr = (uintptr_t)decoy;
	expect("read with addr pointing at another buffer", &s, 0, 0, 0);
	CHECK(!memcmp(src, dst, lba), "data did not land at buf_offset");
	for (i = 0; i < 2 * BSZ; i++)
		if (decoy[i] != 0xd1)
			break;
	CHECK(i == 2 * BSZ, "the buffer addr pointed at was written (byte %u)", i);
	unified_prep_read(&s, 1, 200, 1, 21 * BSZ, lba, 0);
	s.nvme_cmd.addr = 1;
	expect("read with addr 1", &s, 0, 0, 0);
}

/*
 * A batch of mixed good and bad SQEs submitted at once: exactly one CQE
 * each, matched by user_data, with the right status.
 */
static void t_batch_in_equals_out(void)
{
	enum { NB = 30 };
	uint16_t want[NB];
	int seen[NB] = { 0 };
	uint32_t idx, i, n, got = 0, lba;
	int spins;

	BEGIN();
	(void)s;
	lba = T.info.lba_size;
	for (i = 0; i < NB; i++) {
		REQUIRE(unified_sq_reserve(&T.sq, 1, &idx) == 1, "reserve %u", i);
		switch (i % 5) {
		case 0:
			unified_prep_read(unified_sq_entry(&T.sq, idx), 1, i, 1, (uint64_t)i * BSZ, lba, 0);
			want[i] = 0;
			break;
		case 1:
			unified_prep_read(unified_sq_entry(&T.sq, idx), 2, i, 1, 0, lba, 0);
			want[i] = ST_INV_NS;
			break;
		case 2:
			unified_prep_nvme(unified_sq_entry(&T.sq, idx), 0x42, 1, 0, 0, 0);
			want[i] = ST_INV_OPCODE;
			break;
		case 3:
			unified_prep_read(unified_sq_entry(&T.sq, idx), 1, i, 1, AREA, lba, 0);
			want[i] = ST_INV_FIELD;
			break;
		default:
			unified_prep_write(unified_sq_entry(&T.sq, idx), 1, 1000 + i, 1, (uint64_t)i * BSZ,
					   lba, 0);
			want[i] = 0;
		}
		unified_sq_entry(&T.sq, idx)->user_data = 0x5000 + i;
		n_sub++;
		n_err += want[i] != 0;
	}
	unified_sq_submit(&T.sq, NB);
	for (spins = 0; got < NB && spins < 100; spins++) {
		int r = unified_enter(T.ctx, NB - got, 1000);

		CHECK(r >= 0, "enter: %d", r);
		while ((n = unified_cq_peek(&T.cq, 8, &idx))) {
			for (i = 0; i < n; i++) {
				const struct io_unified_cqe *c = unified_cq_entry(&T.cq, idx + i);
				uint64_t k = c->user_data - 0x5000;

				if (k >= NB) {
					CHECK(0, "unexpected user_data 0x%llx", (unsigned long long)c->user_data);
					continue;
				}
				CHECK(!seen[k]++, "user_data 0x%llx completed twice",
				      (unsigned long long)c->user_data);
				CHECK(c->status == want[k], "entry %llu status 0x%x want 0x%x",
				      (unsigned long long)k, c->status, want[k]);
				got++;
			}
			unified_cq_release(&T.cq, n);
		}
	}
	CHECK(got == NB, "%u CQEs for %u SQEs", got, NB);
	CHECK(unified_cq_peek(&T.cq, 1, &idx) == 0, "extra CQE");
}

/* Runs last: the engine's counters agree with everything submitted above. */
static void t_counters_in_equals_out(void)
{
	struct unified_stats st;

	open_once();
	REQUIRE(opened == 1, "register failed");
	REQUIRE(unified_get_stats(T.ctx, &st) == 0, "stats");
	CHECK(st.sqes == n_sub, "engine consumed %llu SQEs, %llu were submitted",
	      (unsigned long long)st.sqes, (unsigned long long)n_sub);
	CHECK(st.cqes == n_sub, "engine produced %llu CQEs for %llu SQEs", (unsigned long long)st.cqes,
	      (unsigned long long)n_sub);
	CHECK(st.errors == n_err, "engine counted %llu errors, %llu expected",
	      (unsigned long long)st.errors, (unsigned long long)n_err);
	CHECK(st.ring_errors == 0 && st.aborted == 0, "ring_errors %llu aborted %llu",
	      (unsigned long long)st.ring_errors, (unsigned long long)st.aborted);
	CHECK(*T.sq.r.producer == *T.sq.r.consumer, "SQ not empty");
	CHECK(*T.cq.r.producer == *T.cq.r.consumer, "CQ not empty");
	CHECK(unified_get_stats(NULL, &st) == -EINVAL, "stats(NULL)");
	th_close(&T);
	opened = 0;
}

int main(void)
{
	RUN(t_good_commands);
	RUN(t_unknown_sqe_flags);
	RUN(t_reserved_words);
	RUN(t_data_len_mismatch);
	RUN(t_buf_offset_out_of_area);
	RUN(t_buf_offset_misaligned);
	RUN(t_transfer_too_big);
	RUN(t_wrong_nsid);
	RUN(t_len_not_matching_nlb);
	RUN(t_unknown_opcode);
	RUN(t_lba_out_of_range);
	RUN(t_dsm);
	RUN(t_compare);
	RUN(t_addr_is_ignored);
	RUN(t_batch_in_equals_out);
	RUN(t_counters_in_equals_out);
	return harness_done();
}
