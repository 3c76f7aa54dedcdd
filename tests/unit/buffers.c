/* SPDX-License-Identifier: MIT */
/*
 * The data-buffer allocator and the pointer/offset helpers on a registered
 * context: alloc until -ENOBUFS, free, double free, bad offsets, ptr<->off.
 */
#include "helpers.h"

#define NBUF 16u
#define BSZ 8192u

static struct th_ctx T;
static const struct th_opts G = { .sq = 8, .cq = 16, .nbuf = NBUF, .bufsz = BSZ };

static int open_ctx(void)
{
	return th_open(&T, &G);
}

static void t_alloc_until_enobufs(void)
{
	uint64_t off[NBUF + 1], seen = 0;
	uint32_t i;

	REQUIRE(open_ctx() == 0, "register");
	CHECK(unified_buf_count(T.ctx) == NBUF, "initial count %u", unified_buf_count(T.ctx));
	for (i = 0; i < NBUF; i++) {
		int ret = unified_buf_alloc(T.ctx, &off[i]);

		CHECK(ret == 0, "alloc %u: %d", i, ret);
		if (ret)
			break;
		CHECK(off[i] % BSZ == 0 && off[i] < (uint64_t)NBUF * BSZ, "alloc %u: offset %" PRIu64, i,
		      off[i]);
		CHECK(!(seen & (1ull << (off[i] / BSZ))), "offset %" PRIu64 " handed out twice", off[i]);
		seen |= 1ull << (off[i] / BSZ);
		CHECK(off[i] == (uint64_t)i * BSZ, "alloc %u: offset %" PRIu64 ", lowest first", i, off[i]);
		CHECK(unified_buf_count(T.ctx) == NBUF - 1 - i, "count %u after %u allocs",
		      unified_buf_count(T.ctx), i + 1);
	}
	off[NBUF] = 0xdead;
	CHECK(unified_buf_alloc(T.ctx, &off[NBUF]) == -ENOBUFS, "alloc with none free");
	CHECK(off[NBUF] == 0xdead, "failed alloc wrote the offset");
	CHECK(unified_errmsg()[0], "no error message");
	CHECK(unified_buf_count(T.ctx) == 0, "count %u", unified_buf_count(T.ctx));
	CHECK(unified_buf_alloc(NULL, &off[0]) == -EINVAL, "alloc(NULL ctx)");
	CHECK(unified_buf_alloc(T.ctx, NULL) == -EINVAL, "alloc(NULL off)");
	/* All free again, in any order; then the whole set can be taken again. */
	for (i = 0; i < NBUF; i += 2)
		CHECK(unified_buf_free(T.ctx, off[i]) == 0, "free %u", i);
	for (i = 1; i < NBUF; i += 2)
		CHECK(unified_buf_free(T.ctx, off[i]) == 0, "free %u", i);
	CHECK(unified_buf_count(T.ctx) == NBUF, "count after freeing all %u", unified_buf_count(T.ctx));
	seen = 0;
	for (i = 0; i < NBUF; i++) {
		CHECK(unified_buf_alloc(T.ctx, &off[i]) == 0, "realloc %u", i);
		seen |= 1ull << (off[i] / BSZ);
	}
	CHECK(seen == (1ull << NBUF) - 1, "reallocation missed buffers: 0x%" PRIx64, seen);
	CHECK(unified_buf_alloc(T.ctx, &off[NBUF]) == -ENOBUFS, "alloc after realloc");
	th_close(&T);
}

static void t_free_and_reuse(void)
{
	uint64_t a, b, c;

	REQUIRE(open_ctx() == 0, "register");
	CHECK(unified_buf_alloc(T.ctx, &a) == 0 && unified_buf_alloc(T.ctx, &b) == 0, "alloc 2");
	CHECK(unified_buf_count(T.ctx) == NBUF - 2, "count %u", unified_buf_count(T.ctx));
	CHECK(unified_buf_free(T.ctx, a) == 0, "free a");
	CHECK(unified_buf_count(T.ctx) == NBUF - 1, "count after free %u", unified_buf_count(T.ctx));
	CHECK(unified_buf_alloc(T.ctx, &c) == 0 && c == a, "freed buffer %" PRIu64 " not reused first (%" PRIu64 ")",
	      a, c);
	CHECK(unified_buf_free(T.ctx, b) == 0 && unified_buf_free(T.ctx, c) == 0, "free b, c");
	CHECK(unified_buf_count(T.ctx) == NBUF, "count %u", unified_buf_count(T.ctx));
	th_close(&T);
}

static void t_double_free(void)
{
	uint64_t a;

	REQUIRE(open_ctx() == 0, "register");
	CHECK(unified_buf_alloc(T.ctx, &a) == 0, "alloc");
	CHECK(unified_buf_free(T.ctx, a) == 0, "first free");
	CHECK(unified_buf_free(T.ctx, a) == -EALREADY, "double free not -EALREADY");
	CHECK(unified_buf_count(T.ctx) == NBUF, "double free changed the count to %u",
	      unified_buf_count(T.ctx));
	CHECK(unified_buf_free(T.ctx, (NBUF - 1) * (uint64_t)BSZ) == -EALREADY,
	      "free of a never allocated buffer");
	CHECK(unified_buf_count(T.ctx) == NBUF, "count %u", unified_buf_count(T.ctx));
	/* The allocator is still consistent: NBUF distinct buffers, then none. */
	{
		uint64_t seen = 0, o;
		uint32_t i;

		for (i = 0; i < NBUF; i++) {
			CHECK(unified_buf_alloc(T.ctx, &o) == 0, "alloc %u", i);
			seen |= 1ull << (o / BSZ);
		}
		CHECK(seen == (1ull << NBUF) - 1, "buffers 0x%" PRIx64, seen);
		CHECK(unified_buf_alloc(T.ctx, &o) == -ENOBUFS, "extra alloc");
	}
	th_close(&T);
}

static void t_bad_free(void)
{
	static const uint64_t bad[] = { 1, 512, BSZ - 1, BSZ + 4096, (uint64_t)NBUF * BSZ,
					(uint64_t)NBUF * BSZ + BSZ, UINT64_MAX, UINT64_MAX - BSZ + 1,
					1ull << 63 };
	uint64_t a;
	size_t i;

	REQUIRE(open_ctx() == 0, "register");
	CHECK(unified_buf_alloc(T.ctx, &a) == 0 && unified_buf_alloc(T.ctx, &a) == 0, "alloc 2");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(unified_buf_free(T.ctx, bad[i]) == -EINVAL, "free(0x%" PRIx64 ") not -EINVAL", bad[i]);
	CHECK(unified_buf_count(T.ctx) == NBUF - 2, "bad frees changed the count to %u",
	      unified_buf_count(T.ctx));
	CHECK(unified_buf_free(NULL, 0) == -EINVAL, "free(NULL ctx)");
	CHECK(unified_buf_free(T.ctx, a) == 0, "good free after bad ones");
	th_close(&T);
}

static void t_ptr_offset_helpers(void)
{
	uint8_t *base;
	uint64_t off = 12345, area = (uint64_t)NBUF * BSZ;

	REQUIRE(open_ctx() == 0, "register");
	base = unified_buffers(T.ctx);
	REQUIRE(base, "no buffer area");
	CHECK(base == (uint8_t *)unified_region(T.ctx) + T.reg.offsets.buffers, "buffer area position");
	CHECK(unified_buf_ptr(T.ctx, 0) == base, "ptr(0)");
	CHECK(unified_buf_ptr(T.ctx, 3 * BSZ + 17) == base + 3 * BSZ + 17, "ptr(3 buffers + 17)");
	CHECK(unified_buf_ptr(T.ctx, area - 1) == base + area - 1, "ptr(last byte)");
	CHECK(unified_buf_ptr(T.ctx, area) == NULL, "ptr(end) not NULL");
	CHECK(unified_buf_ptr(T.ctx, UINT64_MAX) == NULL, "ptr(~0) not NULL");
	CHECK(unified_buf_ptr(NULL, 0) == NULL, "ptr(NULL ctx)");
	CHECK(unified_buf_off(T.ctx, base, &off) == 0 && off == 0, "off(base)");
	CHECK(unified_buf_off(T.ctx, base + 5 * BSZ + 9, &off) == 0 && off == 5 * BSZ + 9, "off(+5 bufs+9)");
	CHECK(unified_buf_off(T.ctx, base + area - 1, &off) == 0 && off == area - 1, "off(last byte)");
	off = 999;
	CHECK(unified_buf_off(T.ctx, base + area, &off) == -EFAULT, "off(end) not -EFAULT");
	CHECK(unified_buf_off(T.ctx, base - 1, &off) == -EFAULT, "off(base-1) not -EFAULT");
	CHECK(unified_buf_off(T.ctx, unified_region(T.ctx), &off) == -EFAULT, "off(region) not -EFAULT");
	CHECK(unified_buf_off(T.ctx, NULL, &off) == -EFAULT, "off(NULL) not -EFAULT");
	CHECK(unified_buf_off(T.ctx, &off, &off) == -EFAULT, "off(stack) not -EFAULT");
	CHECK(off == 999, "failed off() wrote the result");
	CHECK(unified_buf_off(NULL, base, &off) == -EINVAL, "off(NULL ctx)");
	CHECK(unified_buf_off(T.ctx, base, NULL) == -EINVAL, "off(NULL out)");
	/* Round trip for every allocated buffer. */
	{
		uint64_t o, back;
		uint32_t i;

		for (i = 0; i < NBUF; i++) {
			CHECK(unified_buf_alloc(T.ctx, &o) == 0, "alloc");
			CHECK(unified_buf_off(T.ctx, unified_buf_ptr(T.ctx, o), &back) == 0 && back == o,
			      "round trip of %" PRIu64, o);
		}
	}
	CHECK(unified_buf_count(NULL) == 0, "count(NULL)");
	th_close(&T);
}

/* A buffer from the allocator works for I/O at its offset. */
static void t_alloc_buffers_do_io(void)
{
	struct io_unified_cqe c;
	uint64_t w, r;
	uint32_t nlb;

	REQUIRE(open_ctx() == 0, "register");
	nlb = BSZ / T.info.lba_size;
	REQUIRE(unified_buf_alloc(T.ctx, &w) == 0 && unified_buf_alloc(T.ctx, &r) == 0, "alloc");
	memset(unified_buf_ptr(T.ctx, w), 0x3c, BSZ);
	memset(unified_buf_ptr(T.ctx, r), 0, BSZ);
	REQUIRE(th_rw(&T, IO_UNIFIED_NVME_CMD_WRITE, 0, nlb, w, &c) == 0, "write");
	CHECK(c.status == 0 && c.dma_addr == w, "write status 0x%x", c.status);
	REQUIRE(th_rw(&T, IO_UNIFIED_NVME_CMD_READ, 0, nlb, r, &c) == 0, "read");
	CHECK(c.status == 0 && c.dma_addr == r && c.len == BSZ, "read status 0x%x", c.status);
	CHECK(!memcmp(unified_buf_ptr(T.ctx, w), unified_buf_ptr(T.ctx, r), BSZ), "data differs");
	th_close(&T);
}

int main(void)
{
	RUN(t_alloc_until_enobufs);
	RUN(t_free_and_reuse);
	RUN(t_double_free);
	RUN(t_bad_free);
	RUN(t_ptr_offset_helpers);
	RUN(t_alloc_buffers_do_io);
	return harness_done();
}
