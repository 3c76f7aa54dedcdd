/* SPDX-License-Identifier: MIT */
/*
 * Target tests: the non-transfer NVMe commands of the emulation, on files
 * (512/4096-byte LBAs) and loop devices (512/4096-byte sectors), in kick
 * and thread mode: Flush, Write Zeroes (with and without DEAC), Dataset
 * Management deallocate, Compare, and the synthesised Identify data.
 * Every effect is checked on the data: zeroed ranges read as zeros, their
 * neighbours keep their pattern, deallocated ranges are holes in the file
 * behind the namespace, rejected commands change nothing.
 */
#include "helpers.h"

#define CDW12_FUA	(1u << 30)
#define CDW12_DEAC	(1u << 25)

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* LBAs per 4 KiB: ranges in these units are whole blocks of the file
 * system behind the target, so a deallocation leaves a real hole. */
static uint32_t u4k(const struct th_ctx *c)
{
	return 4096 / c->lba;
}

/* A pattern area on the device and what it is expected to hold. */
struct area {
	uint64_t base;		/* first LBA */
	uint32_t nlb;		/* LBAs */
	uint64_t seed;
	uint8_t *want;		/* expected contents */
	uint8_t *got;
};

static bool area_init(struct th_ctx *c, struct area *a, uint32_t nlb)
{
	size_t len = (size_t)nlb * c->lba;

	a->nlb = nlb;
	a->base = th_rand_below((c->nlba - nlb) / u4k(c)) * u4k(c);
	a->seed = th_rand();
	a->want = malloc(len);
	a->got = malloc(len);
	if (!a->want || !a->got)
		return false;
	th_fill(a->want, len, a->seed);
	return th_raw_write(c, a->base, nlb, a->want) == 0;
}

static void area_free(struct area *a)
{
	free(a->want);
	free(a->got);
}

/* Expect LBAs [slba, slba+nlb) of the area to be zero from now on. */
static void area_zero(const struct th_ctx *c, struct area *a, uint64_t slba, uint32_t nlb)
{
	memset(a->want + (slba - a->base) * c->lba, 0, (size_t)nlb * c->lba);
}

/* The device (raw) and an engine read both match the expectation. */
static void area_verify(struct th_ctx *c, struct area *a, const char *what)
{
	size_t len = (size_t)a->nlb * c->lba;
	long d;

	CHECK(th_raw_read(c, a->base, a->nlb, a->got) == 0, "raw read: %s", strerror(errno));
	d = th_diff(a->got, a->want, len);
	CHECK(d < 0, "%s: device byte %ld (LBA %" PRIu64 ") is 0x%02x, expected 0x%02x", what, d,
	      a->base + (uint64_t)(d < 0 ? 0 : d) / c->lba, d < 0 ? 0 : a->got[d],
	      d < 0 ? 0 : a->want[d]);
	if (len <= TH_MAX_XFER) {
		memset(c->buf + (2u << 20), 0xcc, len);
		if (th_read(c, a->base, a->nlb, 2u << 20) == 0) {
			d = th_diff(c->buf + (2u << 20), a->want, len);
			CHECK(d < 0, "%s: engine read differs at byte %ld", what, d);
		}
	}
}

/* --------------------------------------------------------------- Flush */

static void cmd_flush(struct th_ctx *c)
{
	struct io_unified_sqe s;
	uint32_t nlb = 16 * u4k(c);
	uint64_t slba = th_rand_below(c->nlba - nlb);
	uint8_t *raw = malloc(64 << 10);

	REQUIRE(raw, "no memory");
	th_fill(c->buf, 64 << 10, th_rand());
	if (th_write(c, slba, nlb, 0) == 0) {
		unified_prep_flush(&s, c->nsid, 0xf1);
		EXEC_EXPECT(c, &s, ST_OK, 0);
		/* NSID FFFFFFFFh: flush all namespaces. */
		unified_prep_flush(&s, 0xffffffffu, 0xf2);
		EXEC_EXPECT(c, &s, ST_OK, 0);
		/* Flush moves no data (opcode bits 1:0 = 00b): a buffer with it
		 * is refused (issue 6 item 6, the data-direction rule). */
		unified_prep_flush(&s, c->nsid, 0xf3);
		s.buf_offset = 8192;
		s.len = 4096;
		EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
		CHECK(th_raw_read(c, slba, nlb, raw) == 0, "raw read");
		CHECK(!memcmp(raw, c->buf, 64 << 10), "data differs after flush");
	}
	free(raw);
}

/* --------------------------------------------------------- Write Zeroes */

static void wz(struct th_ctx *c, uint64_t slba, uint32_t nlb, bool deac, uint64_t ud)
{
	struct io_unified_sqe s;

	unified_prep_write_zeroes(&s, c->nsid, slba, nlb, ud);
	if (deac)
		s.nvme_cmd.cdw12 |= CDW12_DEAC;
	EXEC_EXPECT(c, &s, ST_OK, 0);
}

static void check_hole(struct th_ctx *c, uint64_t slba, uint32_t nlb, const char *what)
{
	int h;

	if (!th_holes_ok())
		return;
	h = th_is_hole(th_cur, slba * c->lba, (uint64_t)nlb * c->lba);
	CHECK(h == 1, "%s: LBAs %" PRIu64 "+%u are not a hole in %s (%d)", what, slba, nlb,
	      th_cur->kind == TH_FILE ? "the file" : "the backing file", h);
}

static void cmd_write_zeroes(struct th_ctx *c)
{
	uint32_t u = u4k(c);
	struct area a;
	struct stat st;

	REQUIRE(area_init(c, &a, 64 * u), "set-up of the pattern area failed");
	/* Without DEAC: zeroed, neighbours intact. */
	wz(c, a.base + 4 * u, 8 * u, false, 0x20);
	area_zero(c, &a, a.base + 4 * u, 8 * u);
	area_verify(c, &a, "write zeroes");
	/* With DEAC: zeroed and deallocated (a hole in the file). */
	wz(c, a.base + 20 * u, 12 * u, true, 0x21);
	area_zero(c, &a, a.base + 20 * u, 12 * u);
	area_verify(c, &a, "write zeroes + DEAC");
	check_hole(c, a.base + 20 * u, 12 * u, "write zeroes + DEAC");
	/* Single LBAs, not 4 KiB aligned when the LBA is 512 bytes. */
	wz(c, a.base + 40 * u + 1, 1, false, 0x22);
	area_zero(c, &a, a.base + 40 * u + 1, 1);
	wz(c, a.base + 44 * u + u - 1, 1, true, 0x23);
	area_zero(c, &a, a.base + 44 * u + u - 1, 1);
	area_verify(c, &a, "single-LBA write zeroes");
	/* The last LBA of the namespace. */
	wz(c, c->nlba - 1, 1, true, 0x24);
	wz(c, c->nlba - 1, 1, false, 0x25);
	if (th_cur->kind == TH_FILE) {
		CHECK(!stat(th_cur->path, &st) && (uint64_t)st.st_size == TH_DEV_BYTES,
		      "write zeroes changed the file size to %lld", (long long)st.st_size);
	}
	area_free(&a);
}

/* The largest Write Zeroes (NLB 0FFFFh, or the whole namespace). */
static void cmd_write_zeroes_large(struct th_ctx *c)
{
	uint32_t nlb = c->nlba < 65536 ? (uint32_t)c->nlba : 65536, i;
	uint64_t slba = c->nlba - nlb;
	uint8_t *got = malloc(c->lba);
	int deac;

	REQUIRE(got, "no memory");
	for (deac = 0; deac < 2 && !h_case_failed; deac++) {
		uint64_t probe[4] = { slba, slba + nlb / 3, slba + nlb / 2 + 1, slba + nlb - 1 };

		for (i = 0; i < 4; i++)
			REQUIRE(th_raw_pattern(c, probe[i], 1, th_rand()) == 0, "raw write");
		wz(c, slba, nlb, deac, 0x30 + deac);
		for (i = 0; i < 4; i++) {
			CHECK(th_raw_read(c, probe[i], 1, got) == 0, "raw read");
			CHECK(th_nonzero(got, c->lba) < 0, "LBA %" PRIu64 " not zero after %u-LBA WZ%s",
			      probe[i], nlb, deac ? "+DEAC" : "");
		}
	}
	free(got);
}

/* --------------------------------------------------- Dataset Management */

static void put_range(struct th_ctx *c, uint64_t off, uint32_t i, uint64_t slba, uint32_t nlb)
{
	struct unified_dsm_range r = { .cattr = 0, .nlb = nlb, .slba = slba };

	memcpy(c->buf + off + 16u * i, &r, sizeof(r));
}

static int dsm(struct th_ctx *c, uint32_t nr, uint64_t off, uint32_t cdw11, uint16_t want, uint64_t ud)
{
	struct io_unified_sqe s;

	unified_prep_dsm_deallocate(&s, c->nsid, nr, off, ud);
	s.nvme_cmd.cdw11 = cdw11;
	return EXEC_EXPECT(c, &s, want, 0);
}

/* Several ranges deallocated in one command read back as zeros; the gaps
 * between them keep their data; a zero-length range is ignored. */
static void cmd_dsm_deallocate(struct th_ctx *c)
{
	uint32_t u = u4k(c);
	uint64_t off = 64 << 10;
	struct area a;

	REQUIRE(area_init(c, &a, 64 * u), "set-up of the pattern area failed");
	put_range(c, off, 0, a.base + 2 * u, 4 * u);
	put_range(c, off, 1, a.base + 10 * u, 1 * u);
	put_range(c, off, 2, a.base + 30, 0);		/* NLB 0: nothing */
	put_range(c, off, 3, a.base + 20 * u, 16 * u);
	put_range(c, off, 4, a.base + 50 * u + 1, 1);	/* one LBA */
	if (dsm(c, 5, off, 1u << 2, ST_OK, 0x40) == 0) {
		area_zero(c, &a, a.base + 2 * u, 4 * u);
		area_zero(c, &a, a.base + 10 * u, u);
		area_zero(c, &a, a.base + 20 * u, 16 * u);
		area_zero(c, &a, a.base + 50 * u + 1, 1);
		area_verify(c, &a, "DSM deallocate");
		check_hole(c, a.base + 2 * u, 4 * u, "DSM range 0");
		check_hole(c, a.base + 10 * u, u, "DSM range 1");
		check_hole(c, a.base + 20 * u, 16 * u, "DSM range 3");
	}
	area_free(&a);
}

/* The maximum of 256 ranges, every other LBA of an area. */
static void cmd_dsm_256(struct th_ctx *c)
{
	uint64_t off = 64 << 10;
	struct area a;
	uint32_t i;

	REQUIRE(area_init(c, &a, 512), "set-up of the pattern area failed");
	for (i = 0; i < 256; i++)
		put_range(c, off, i, a.base + 2 * i + 1, 1);
	if (dsm(c, 256, off, 1u << 2, ST_OK, 0x41) == 0) {
		for (i = 0; i < 256; i++)
			area_zero(c, &a, a.base + 2 * i + 1, 1);
		area_verify(c, &a, "DSM of 256 ranges");
	}
	area_free(&a);
}

/* Without the AD attribute DSM is a hint: success, nothing changes. */
static void cmd_dsm_no_ad(struct th_ctx *c)
{
	uint32_t u = u4k(c);
	uint64_t off = 64 << 10;
	struct area a;

	REQUIRE(area_init(c, &a, 16 * u), "set-up of the pattern area failed");
	put_range(c, off, 0, a.base, 16 * u);
	put_range(c, off, 1, a.base + u, 2);
	dsm(c, 2, off, 0, ST_OK, 0x42);
	dsm(c, 2, off, 0x3, ST_OK, 0x43);	/* IDR | IDW: still only hints */
	area_verify(c, &a, "DSM without AD");
	area_free(&a);
}

/* One range past the end fails the whole command with LBA Out of Range
 * and nothing is deallocated, not even the valid ranges before it. */
static void cmd_dsm_past_end(struct th_ctx *c)
{
	uint32_t u = u4k(c);
	uint64_t off = 64 << 10;
	struct area a;

	REQUIRE(area_init(c, &a, 16 * u), "set-up of the pattern area failed");
	put_range(c, off, 0, a.base, 4 * u);
	put_range(c, off, 1, a.base + 8 * u, 4 * u);
	put_range(c, off, 2, c->nlba - 2, 4);		/* straddles the end */
	dsm(c, 3, off, 1u << 2, ST_LBA_RANGE, 0x44);
	area_verify(c, &a, "DSM with a range straddling the end");

	put_range(c, off, 2, c->nlba, 1);		/* starts at the end */
	dsm(c, 3, off, 1u << 2, ST_LBA_RANGE, 0x45);
	put_range(c, off, 2, UINT64_MAX - 1, 8);	/* wraps around */
	dsm(c, 3, off, 1u << 2, ST_LBA_RANGE, 0x46);
	put_range(c, off, 0, UINT64_MAX, 1);		/* first range bad */
	put_range(c, off, 2, a.base + 12 * u, u);
	dsm(c, 3, off, 1u << 2, ST_LBA_RANGE, 0x47);
	area_verify(c, &a, "DSM with bad ranges");
	/* The last LBAs themselves are fine. */
	put_range(c, off, 0, c->nlba - 4, 4);
	dsm(c, 1, off, 1u << 2, ST_OK, 0x48);
	area_free(&a);
}

/* A range list shorter than NR says is an invalid field. */
static void cmd_dsm_short_list(struct th_ctx *c)
{
	struct io_unified_sqe s;
	struct area a;

	REQUIRE(area_init(c, &a, 8), "set-up of the pattern area failed");
	put_range(c, 0, 0, a.base, 4);
	put_range(c, 0, 1, a.base + 4, 4);
	unified_prep_dsm_deallocate(&s, c->nsid, 2, 0, 0x49);
	s.len = 16;
	EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
	area_verify(c, &a, "DSM with a short range list");
	area_free(&a);
}

/* ------------------------------------------------------------- Compare */

static void cmp_sqe(struct th_ctx *c, struct io_unified_sqe *s, uint64_t slba, uint32_t nlb,
		    uint64_t off, uint64_t ud)
{
	unified_prep_rw(s, IO_UNIFIED_NVME_CMD_COMPARE, c->nsid, slba, nlb, off, nlb * c->lba, ud);
}

static void cmd_compare(struct th_ctx *c)
{
	const uint32_t sizes[] = { 512, 4096, 65536, TH_MAX_XFER };
	struct io_unified_sqe s;
	uint8_t *save = malloc(TH_MAX_XFER), *raw = malloc(TH_MAX_XFER);
	size_t i;

	REQUIRE(save && raw, "no memory");
	for (i = 0; i < 4 && !h_case_failed; i++) {
		uint32_t len = sizes[i], nlb = len / c->lba;
		uint64_t slba, seed = th_rand();

		if (len % c->lba)
			continue;
		slba = th_rand_below(c->nlba - nlb + 1);
		REQUIRE(th_raw_pattern(c, slba, nlb, seed) == 0, "raw write");
		th_fill(c->buf, len, seed);
		memcpy(save, c->buf, len);
		cmp_sqe(c, &s, slba, nlb, 0, 0x50 + i);
		EXEC_EXPECT(c, &s, ST_OK, len);
		/* last byte differs */
		c->buf[len - 1] ^= 0x01;
		cmp_sqe(c, &s, slba, nlb, 0, 0x60 + i);
		EXEC_EXPECT(c, &s, ST_CMP_FAILED, 0);
		c->buf[len - 1] ^= 0x01;
		/* first byte differs */
		c->buf[0] ^= 0x80;
		cmp_sqe(c, &s, slba, nlb, 0, 0x70 + i);
		EXEC_EXPECT(c, &s, ST_CMP_FAILED, 0);
		c->buf[0] ^= 0x80;
		/* neither the buffer nor the device was changed by Compare */
		CHECK(!memcmp(save, c->buf, len), "Compare modified the data buffer");
		CHECK(th_raw_read(c, slba, nlb, raw) == 0 && !memcmp(raw, save, len),
		      "Compare modified the device");
	}
	/* Compare at the last LBA, and with FUA (allowed on Compare). */
	REQUIRE(th_raw_pattern(c, c->nlba - 1, 1, 77) == 0, "raw write");
	th_fill(c->buf, c->lba, 77);
	cmp_sqe(c, &s, c->nlba - 1, 1, 0, 0x80);
	s.nvme_cmd.cdw12 |= CDW12_FUA;
	EXEC_EXPECT(c, &s, ST_OK, c->lba);
	free(save);
	free(raw);
}

/* More Compares at once than the engine has compare buffers: each gets
 * its own verdict. */
static void cmd_compare_batch(struct th_ctx *c)
{
	enum { N = 24 };
	struct io_unified_sqe s[N];
	struct io_unified_cqe q[N];
	uint32_t nlb = 16384 / c->lba, i;
	uint64_t base = th_rand_below(c->nlba / nlb - N) * nlb;
	bool seen[N] = { false };

	for (i = 0; i < N; i++) {
		uint64_t seed = th_rand();

		REQUIRE(th_raw_pattern(c, base + (uint64_t)i * nlb, nlb, seed) == 0, "raw write");
		th_fill(c->buf + (uint64_t)i * 16384, 16384, seed);
		if (i % 3 == 1)
			c->buf[(uint64_t)i * 16384 + th_rand_below(16384)] ^= 0x10;
		cmp_sqe(c, &s[i], base + (uint64_t)i * nlb, nlb, (uint64_t)i * 16384, 0x900 + i);
	}
	REQUIRE(th_submit(c, s, N) == 0, "submit");
	REQUIRE(th_reap(c, q, N) == N, "not all %d compares completed", N);
	for (i = 0; i < N; i++) {
		uint32_t j = (uint32_t)(q[i].user_data - 0x900);

		REQUIRE(j < N && !seen[j], "bad user_data 0x%" PRIx64, (uint64_t)q[i].user_data);
		seen[j] = true;
		EXPECT_CQE(&q[i], &s[j], j % 3 == 1 ? ST_CMP_FAILED : ST_OK, 16384);
	}
}

/* ------------------------------------------------------------ Identify */

static int identify(struct th_ctx *c, uint8_t cns, uint32_t nsid, uint16_t want, uint64_t off)
{
	struct io_unified_sqe s;

	memset(c->buf + off, 0x5a, 4096);
	unified_prep_identify(&s, cns, nsid, off, 0x1d00 + cns);
	return EXEC_EXPECT(c, &s, want, 4096);
}

static void cmd_identify_ctrl(struct th_ctx *c)
{
	const uint8_t *d = c->buf + 4096;
	struct io_unified_sqe s;
	uint32_t mdts_bytes;
	int i;

	if (identify(c, 0x01, 0, ST_OK, 4096) != 0)
		return;
	CHECK(d[77] == 8, "MDTS %u, expected 8 (1 MiB in 4 KiB units)", d[77]);
	mdts_bytes = 4096u << d[77];
	CHECK(mdts_bytes == c->info.max_xfer, "MDTS %u bytes != info.max_xfer %u", mdts_bytes,
	      c->info.max_xfer);
	CHECK(le32(d + 516) == 1, "NN %u, expected 1", le32(d + 516));
	CHECK(le16(d + 520) == 0x001d, "ONCS 0x%04x, expected 0x001d (Compare, DSM, Write Zeroes, "
	      "Save/Select)",
	      le16(d + 520));
	CHECK(d[525] & 1, "VWC 0x%02x: volatile write cache not reported", d[525]);
	CHECK(d[512] == 0x66 && d[513] == 0x44, "SQES 0x%02x CQES 0x%02x", d[512], d[513]);
	CHECK(le16(d + 78) == 1, "CNTLID %u", le16(d + 78));
	CHECK(le32(d + 80) >= 0x00010400, "VER 0x%08x", le32(d + 80));
	for (i = 4; i < 72; i++)
		CHECK(d[i] >= 0x20 && d[i] < 0x7f, "SN/MN/FR byte %d is 0x%02x, not ASCII", i, d[i]);
	CHECK(!memcmp(d + 24, "io_unified", 10), "MN '%.40s'", (const char *)d + 24);
	CHECK(!memcmp(d + 4, th_cur->kind == TH_FILE ? "unified-file" : "unified-blk",
		      th_cur->kind == TH_FILE ? 12 : 11), "SN '%.20s'", (const char *)d + 4);
	CHECK(th_nonzero(d + 1024, 3072) < 0, "bytes 1024..4095 not zero (old buffer contents?)");
	/* len 0 in the SQE: the engine derives 4096 for Identify. */
	memset(c->buf + 8192, 0x5a, 4096);
	unified_prep_identify(&s, 0x01, 0, 8192, 0x1d99);
	s.len = 0;
	if (EXEC_EXPECT(c, &s, ST_OK, 4096) == 0)
		CHECK(!memcmp(c->buf + 8192, d, 4096), "Identify with derived length differs");
}

static void cmd_identify_ns(struct th_ctx *c)
{
	const uint8_t *d = c->buf + 4096;
	uint32_t lbaf;

	if (identify(c, 0x00, c->nsid, ST_OK, 4096) != 0)
		return;
	CHECK(le64(d + 0) == c->nlba, "NSZE %" PRIu64 " != capacity %" PRIu64, le64(d), c->nlba);
	CHECK(le64(d + 8) == c->nlba, "NCAP %" PRIu64, le64(d + 8));
	CHECK(le64(d + 16) <= c->nlba, "NUSE %" PRIu64, le64(d + 16));
	CHECK(le64(d) * c->lba == TH_DEV_BYTES, "NSZE x LBA size != device bytes");
	CHECK(d[25] == 0 && (d[26] & 0x0f) == 0, "NLBAF %u FLBAS 0x%x", d[25], d[26]);
	lbaf = le32(d + 128);
	CHECK(((lbaf >> 16) & 0xff) == c->info.lba_shift,
	      "LBADS %u != lba shift %u", (lbaf >> 16) & 0xff, c->info.lba_shift);
	CHECK((1u << ((lbaf >> 16) & 0xff)) == th_cur->lba_size, "LBADS %u for %u-byte LBAs",
	      (lbaf >> 16) & 0xff, th_cur->lba_size);
	CHECK((lbaf & 0xffff) == 0, "LBAF0 MS %u: no metadata expected", lbaf & 0xffff);
	CHECK((d[33] & 0x7) == 1 && (d[33] & 0x8), "DLFEAT 0x%02x: deallocated blocks must read "
	      "as zeros and Write Zeroes must support DEAC", d[33]);
	CHECK(th_nonzero(d + 192, 4096 - 192) < 0, "bytes 192..4095 not zero");
}

static void cmd_identify_nslist(struct th_ctx *c)
{
	const uint8_t *d = c->buf + 4096;
	const uint32_t empty[] = { 1, 2, 0xfffffffdu };
	size_t i;

	if (identify(c, 0x02, 0, ST_OK, 4096) == 0) {
		CHECK(le32(d) == 1, "first active NSID %u, expected 1", le32(d));
		CHECK(th_nonzero(d + 4, 4092) < 0, "more than one active NSID listed");
	}
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		if (identify(c, 0x02, empty[i], ST_OK, 4096) == 0)
			CHECK(th_nonzero(d, 4096) < 0, "list above NSID 0x%x is not empty", empty[i]);
	identify(c, 0x02, 0xfffffffeu, ST_INV_NS, 4096);
	identify(c, 0x02, 0xffffffffu, ST_INV_NS, 4096);
}

/* Identify failures leave the buffer alone. */
static void cmd_identify_errors(struct th_ctx *c)
{
	const uint8_t cns_bad[] = { 0x04, 0x05, 0x10, 0x11, 0x12, 0x13, 0x1f, 0xff };
	const uint32_t ns_bad[] = { 0, 2, 0xffffffffu };
	struct io_unified_sqe s;
	uint8_t ref[4096];
	size_t i;

	memset(ref, 0x5a, sizeof(ref));
	for (i = 0; i < sizeof(cns_bad); i++) {
		identify(c, cns_bad[i], c->nsid, ST_INV_FIELD, 4096);
		CHECK(!memcmp(c->buf + 4096, ref, 4096), "CNS 0x%02x wrote the buffer", cns_bad[i]);
	}
	for (i = 0; i < sizeof(ns_bad) / sizeof(ns_bad[0]); i++) {
		identify(c, 0x00, ns_bad[i], ST_INV_NS, 4096);
		CHECK(!memcmp(c->buf + 4096, ref, 4096), "Identify NS 0x%x wrote the buffer", ns_bad[i]);
	}
	/* CNTID (CDW10 bits 31:16) is not supported: invalid field. */
	unified_prep_identify(&s, 0x01, 0, 4096, 0x1dc0);
	s.nvme_cmd.cdw10 |= 1u << 16;
	EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
	/* A buffer that is not 4096 bytes. */
	unified_prep_identify(&s, 0x01, 0, 4096, 0x1dc1);
	s.len = 512;
	EXEC_EXPECT(c, &s, ST_INV_FIELD, 0);
	CHECK(!memcmp(c->buf + 4096, ref, 4096), "failed Identify wrote the buffer");
}

int main(int argc, char **argv)
{
	static const struct th_case cases[] = {
		{ "flush", cmd_flush, false },
		{ "write_zeroes", cmd_write_zeroes, false },
		{ "write_zeroes_large", cmd_write_zeroes_large, false },
		{ "dsm_deallocate", cmd_dsm_deallocate, false },
		{ "dsm_256_ranges", cmd_dsm_256, false },
		{ "dsm_no_ad", cmd_dsm_no_ad, false },
		{ "dsm_past_end", cmd_dsm_past_end, false },
		{ "dsm_short_list", cmd_dsm_short_list, false },
		{ "compare", cmd_compare, false },
		{ "compare_batch", cmd_compare_batch, false },
		{ "identify_ctrl", cmd_identify_ctrl, false },
		{ "identify_ns", cmd_identify_ns, false },
		{ "identify_nslist", cmd_identify_nslist, false },
		{ "identify_errors", cmd_identify_errors, false },
	};

	return th_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
