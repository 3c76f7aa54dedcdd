/* SPDX-License-Identifier: MIT */
/*
 * Target tests: Read and Write data integrity on the emulated targets
 * (files with 512/4096-byte LBAs, loop devices with 512/4096-byte sectors),
 * in kick and thread engine mode.  Data written through the engine is
 * checked byte for byte through a separate O_DIRECT descriptor, and data
 * read through the engine is compared with what was put on the device
 * independently, so neither direction can pass by echoing a buffer.
 */
#include "helpers.h"

#define RD_OFF	(2u << 20)	/* read buffers start here; writes at 0 */

/* Write a pattern with several transfer sizes, read it back both ways. */
static void rw_sizes(struct th_ctx *c)
{
	const uint32_t bytes[] = { 512, 1024, 3584, 4096, 4608, 8192, 12288, 36864, 65536,
				   131072, 262144, 520192, 1044480, TH_MAX_XFER };
	uint8_t *raw = malloc(TH_MAX_XFER);
	size_t i;

	REQUIRE(raw, "no memory");
	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]) && !h_case_failed; i++) {
		uint32_t nlb, len;
		uint64_t slba;
		long d;
		int where;

		if (bytes[i] % c->lba)
			continue;
		nlb = bytes[i] / c->lba;
		len = nlb * c->lba;
		for (where = 0; where < 3 && !h_case_failed; where++) {
			/* first LBAs, last LBAs, somewhere random */
			slba = where == 0 ? 0 : where == 1 ? c->nlba - nlb : th_rand_below(c->nlba - nlb + 1);
			th_fill(c->buf, len, th_rand());
			memset(c->buf + RD_OFF, 0xa5, len);
			if (th_write(c, slba, nlb, 0) != 0)
				break;
			REQUIRE(th_raw_read(c, slba, nlb, raw) == 0, "raw read: %s", strerror(errno));
			d = th_diff(raw, c->buf, len);
			CHECK(d < 0, "%u-byte write at LBA %" PRIu64 ": device differs at byte %ld", len,
			      slba, d);
			if (th_read(c, slba, nlb, RD_OFF) != 0)
				break;
			d = th_diff(c->buf + RD_OFF, c->buf, len);
			CHECK(d < 0, "%u-byte read at LBA %" PRIu64 ": differs at byte %ld", len, slba, d);
		}
	}
	free(raw);
}

/* Data put on the device independently reads back through the engine. */
static void rw_read_external(struct th_ctx *c)
{
	uint32_t nlb = (256u << 10) / c->lba, i;
	uint8_t *want = malloc(256u << 10);

	REQUIRE(want, "no memory");
	for (i = 0; i < 4 && !h_case_failed; i++) {
		uint64_t slba = th_rand_below(c->nlba - nlb + 1), seed = th_rand();
		uint32_t n = nlb >> i;
		long d;

		th_fill(want, (size_t)n * c->lba, seed);
		REQUIRE(th_raw_write(c, slba, n, want) == 0, "raw write: %s", strerror(errno));
		memset(c->buf, 0, (size_t)n * c->lba);
		if (th_read(c, slba, n, 0) != 0)
			break;
		d = th_diff(c->buf, want, (size_t)n * c->lba);
		CHECK(d < 0, "engine read of %u LBAs at %" PRIu64 " differs at byte %ld", n, slba, d);
	}
	free(want);
}

/* Write with FUA (CDW12 bit 30): completes with success and the data is on
 * the device; a Read with FUA set is accepted too. */
static void rw_fua(struct th_ctx *c)
{
	const uint32_t sizes[] = { 4096, 65536, TH_MAX_XFER };
	uint8_t *raw = malloc(TH_MAX_XFER);
	size_t i;

	REQUIRE(raw, "no memory");
	for (i = 0; i < 3 && !h_case_failed; i++) {
		uint32_t nlb = sizes[i] / c->lba;
		uint64_t slba = th_rand_below(c->nlba - nlb + 1);
		struct io_unified_sqe s;
		long d;

		th_fill(c->buf, sizes[i], th_rand());
		th_prep_write(c, &s, slba, nlb, 0, 0xf0a0 + i);
		s.nvme_cmd.cdw12 |= 1u << 30;
		if (EXEC_EXPECT(c, &s, ST_OK, sizes[i]) != 0)
			break;
		REQUIRE(th_raw_read(c, slba, nlb, raw) == 0, "raw read: %s", strerror(errno));
		d = th_diff(raw, c->buf, sizes[i]);
		CHECK(d < 0, "FUA write of %u bytes: device differs at byte %ld", sizes[i], d);

		memset(c->buf + RD_OFF, 0, sizes[i]);
		th_prep_read(c, &s, slba, nlb, RD_OFF, 0xf0b0 + i);
		s.nvme_cmd.cdw12 |= 1u << 30;
		if (EXEC_EXPECT(c, &s, ST_OK, sizes[i]) != 0)
			break;
		d = th_diff(c->buf + RD_OFF, c->buf, sizes[i]);
		CHECK(d < 0, "FUA read of %u bytes differs at byte %ld", sizes[i], d);
	}
	free(raw);
}

/*
 * Transfers that span several data buffers: one command over many buffer
 * entries at offsets that are not buffer-aligned (512-aligned), one at the
 * very end of the buffer area; and a range written from separately
 * allocated buffers (unified_buf_alloc) then read back in one command.
 */
static void rw_multibuf(struct th_ctx *c)
{
	uint64_t offs[8], woff = 5 * 4096 + 512, roff = 37 * 4096 + 1536;
	uint32_t len = 64u << 10, nlb = len / c->lba, per = 4096 / c->lba, i, free0;
	uint64_t slba = th_rand_below(c->nlba - nlb + 1);
	struct io_unified_sqe s[8];
	struct io_unified_cqe q[8];
	uint8_t *want;
	long d;

	th_fill(c->buf + woff, len, th_rand());
	memset(c->buf + roff, 0, len);
	if (th_write(c, slba, nlb, woff) != 0 || th_read(c, slba, nlb, roff) != 0)
		return;
	d = th_diff(c->buf + roff, c->buf + woff, len);
	CHECK(d < 0, "multi-buffer transfer differs at byte %ld", d);

	/* At the end of the buffer area, the largest transfer. */
	woff = c->buf_bytes - TH_MAX_XFER;
	th_fill(c->buf + woff, TH_MAX_XFER, th_rand());
	memcpy(c->buf, c->buf + woff, TH_MAX_XFER);
	if (th_write(c, 0, TH_MAX_XFER / c->lba, woff) != 0)
		return;
	memset(c->buf + woff, 0, TH_MAX_XFER);
	if (th_read(c, 0, TH_MAX_XFER / c->lba, woff) != 0)
		return;
	d = th_diff(c->buf + woff, c->buf, TH_MAX_XFER);
	CHECK(d < 0, "transfer at the end of the buffer area differs at byte %ld", d);

	/* Eight allocated buffers, one 4 KiB piece each, one batch. */
	free0 = unified_buf_count(c->ctx);
	want = malloc(8 * 4096);
	REQUIRE(want, "no memory");
	slba = th_rand_below(c->nlba / per - 8) * per;
	for (i = 0; i < 8; i++) {
		int r = unified_buf_alloc(c->ctx, &offs[i]);

		REQUIRE(r == 0, "unified_buf_alloc: %s", strerror(-r));
		th_fill(c->buf + offs[i], 4096, th_rand());
		memcpy(want + i * 4096, c->buf + offs[i], 4096);
		th_prep_write(c, &s[i], slba + i * per, per, offs[i], 0xb0f0 + i);
	}
	REQUIRE(th_submit(c, s, 8) == 0, "submit");
	REQUIRE(th_reap(c, q, 8) == 8, "8 completions did not arrive");
	for (i = 0; i < 8; i++) {
		uint32_t j = (uint32_t)(q[i].user_data - 0xb0f0);

		REQUIRE(j < 8, "unexpected user_data 0x%" PRIx64, (uint64_t)q[i].user_data);
		EXPECT_CQE(&q[i], &s[j], ST_OK, 4096);
	}
	for (i = 0; i < 8; i++)
		CHECK(unified_buf_free(c->ctx, offs[i]) == 0, "unified_buf_free");
	CHECK(unified_buf_count(c->ctx) == free0, "buffer count %u after free, was %u",
	      unified_buf_count(c->ctx), free0);
	memset(c->buf + RD_OFF, 0, 8 * 4096);
	if (th_read(c, slba, 8 * per, RD_OFF) == 0) {
		d = th_diff(c->buf + RD_OFF, want, 8 * 4096);
		CHECK(d < 0, "range written from 8 buffers differs at byte %ld", d);
	}
	free(want);
}

/*
 * QD > 1: batches of 32 mixed reads and writes on distinct chunks, all
 * submitted with one kick.  Reads must return the chunk's previous
 * contents (put there independently), writes must land on the device.
 */
#define QD	32
#define CHUNKS	96
static void rw_qd_batch(struct th_ctx *c)
{
	uint32_t chunk = 16u << 10, nlb = chunk / c->lba, i, round;
	uint64_t seeds[CHUNKS], base = th_rand_below(c->nlba - (uint64_t)CHUNKS * nlb + 1);
	uint8_t *tmp = malloc(chunk);

	REQUIRE(tmp, "no memory");
	base -= base % nlb;
	for (i = 0; i < CHUNKS; i++) {
		seeds[i] = th_rand();
		REQUIRE(th_raw_pattern(c, base + (uint64_t)i * nlb, nlb, seeds[i]) == 0, "raw write");
	}
	for (round = 0; round < 12 && !h_case_failed; round++) {
		struct io_unified_sqe s[QD];
		struct io_unified_cqe q[QD];
		uint32_t pick[CHUNKS], isw[QD];
		uint64_t newseed[QD];
		bool seen[QD] = { false };

		/* QD distinct chunks in random order */
		for (i = 0; i < CHUNKS; i++)
			pick[i] = i;
		for (i = CHUNKS - 1; i > 0; i--) {
			uint32_t j = (uint32_t)th_rand_below(i + 1), t = pick[i];

			pick[i] = pick[j];
			pick[j] = t;
		}
		for (i = 0; i < QD; i++) {
			uint64_t slba = base + (uint64_t)pick[i] * nlb, off = (uint64_t)i * chunk;

			isw[i] = (uint32_t)(th_rand() & 1);
			if (isw[i]) {
				newseed[i] = th_rand();
				th_fill(c->buf + off, chunk, newseed[i]);
				th_prep_write(c, &s[i], slba, nlb, off, ((uint64_t)round << 32) | i);
			} else {
				memset(c->buf + off, 0, chunk);
				th_prep_read(c, &s[i], slba, nlb, off, ((uint64_t)round << 32) | i);
			}
		}
		REQUIRE(th_submit(c, s, QD) == 0, "submit of %d SQEs", QD);
		REQUIRE(th_reap(c, q, QD) == QD, "round %u: not all %d completions arrived", round, QD);
		for (i = 0; i < QD; i++) {
			uint32_t j = (uint32_t)q[i].user_data;

			REQUIRE((q[i].user_data >> 32) == round && j < QD && !seen[j],
				"unexpected or duplicate user_data 0x%" PRIx64, (uint64_t)q[i].user_data);
			seen[j] = true;
			EXPECT_CQE(&q[i], &s[j], ST_OK, chunk);
		}
		for (i = 0; i < QD && !h_case_failed; i++) {
			uint64_t slba = base + (uint64_t)pick[i] * nlb;
			long d;

			if (isw[i]) {
				REQUIRE(th_raw_read(c, slba, nlb, tmp) == 0, "raw read");
				d = th_diff(tmp, c->buf + (uint64_t)i * chunk, chunk);
				CHECK(d < 0, "round %u: written chunk %u differs on the device at %ld",
				      round, pick[i], d);
				seeds[pick[i]] = newseed[i];
			} else {
				th_fill(tmp, chunk, seeds[pick[i]]);
				d = th_diff(c->buf + (uint64_t)i * chunk, tmp, chunk);
				CHECK(d < 0, "round %u: read of chunk %u differs at %ld", round, pick[i], d);
			}
		}
	}
	free(tmp);
}

/*
 * Stream many more commands than the rings hold (indices wrap several
 * times), keeping up to 48 in flight: writes of unique LBAs, then reads
 * of all of them.  Every SQE gives exactly one CQE.
 */
static void rw_stream_wrap(struct th_ctx *c)
{
	const uint32_t total = 600, depth = 48;
	uint64_t base = th_rand_below(c->nlba - total), seed0 = th_rand();
	uint32_t pass;

	for (pass = 0; pass < 2 && !h_case_failed; pass++) {
		uint32_t next = 0, done = 0, inflight = 0;
		uint8_t *seen = calloc(total, 1), busy[512] = { 0 };

		REQUIRE(seen, "no memory");
		while (done < total && !h_case_failed) {
			struct io_unified_cqe q[64];
			uint32_t k, i;

			/* buffer slot next % 512 must be free again */
			while (inflight < depth && next < total && !busy[next % 512]) {
				struct io_unified_sqe s;
				uint64_t off = (uint64_t)(next % 512) * 4096;

				if (pass == 0) {
					th_fill(c->buf + off, c->lba, seed0 + next);
					th_prep_write(c, &s, base + next, 1, off, next);
				} else {
					memset(c->buf + off, 0, c->lba);
					th_prep_read(c, &s, base + next, 1, off, next);
				}
				if (th_queue(c, &s, 1))
					break;
				busy[next % 512] = 1;
				next++;
				inflight++;
			}
			unified_kick(c->ctx);
			k = th_reap(c, q, 1);
			REQUIRE(k == 1, "pass %u: stalled with %u in flight", pass, inflight);
			k += th_take(c, q + 1, 63);
			for (i = 0; i < k; i++) {
				uint32_t n = (uint32_t)q[i].user_data;

				CHECK(n < total && !seen[n], "unexpected user_data %u", n);
				if (n >= total || seen[n])
					continue;
				seen[n] = 1;
				busy[n % 512] = 0;
				CHECK(q[i].status == 0 && q[i].len == c->lba,
				      "command %u: status 0x%x len %u", n, q[i].status, q[i].len);
				CHECK(q[i].dma_addr == (uint64_t)(n % 512) * 4096, "dma_addr");
				if (pass == 1) {
					uint8_t want[4096];

					th_fill(want, c->lba, seed0 + n);
					CHECK(!memcmp(want, c->buf + q[i].dma_addr, c->lba),
					      "LBA %" PRIu64 " read back wrong", base + n);
				}
			}
			done += k;
			inflight -= k;
		}
		free(seen);
	}
}

int main(int argc, char **argv)
{
	static const struct th_case cases[] = {
		{ "rw_sizes", rw_sizes, false },
		{ "rw_read_external", rw_read_external, false },
		{ "rw_fua", rw_fua, false },
		{ "rw_multibuf", rw_multibuf, false },
		{ "rw_qd_batch", rw_qd_batch, false },
		{ "rw_stream_wrap", rw_stream_wrap, false },
	};

	return th_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
